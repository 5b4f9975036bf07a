import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { T0 } from '../testing/context';
import { ChildRunLoopRule } from './child-run-loop.rule';

describe(ChildRunLoopRule.name, () => {
  const sut = new ChildRunLoopRule();
  const p = DEFAULT_SETTINGS.childRuns;
  const input = (children: number, normPerParent: number | null) => ({
    team: 'support',
    agentId: 'triage',
    at: T0,
    parentRunId: 'run_1',
    children,
    normPerParent,
  });

  it('fires when one parent spawns far more children than usual, naming the parent', () => {
    const r = sut.evaluate(input(30, 2), p);
    expect(r.finding).toMatchObject({ severity: 'error', details: { parent_run_id: 'run_1' } });
    expect(sut.evaluate(input(24, 2), p).finding).toBeNull();
  });

  it('uses the cap when the norm is unknown', () => {
    expect(sut.evaluate(input(199, null), p).finding).toBeNull();
    expect(sut.evaluate(input(200, null), p).finding?.severity).toBe('critical');
  });
});
