import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { T0 } from '../testing/context';
import { RunRateLoopRule } from './run-rate-loop.rule';

describe(RunRateLoopRule.name, () => {
  const sut = new RunRateLoopRule();
  const p = DEFAULT_SETTINGS.runRate;
  const input = (runsThisMinute: number, normPerMinute: number | null) => ({
    team: 'support',
    agentId: 'triage',
    minuteStart: T0 + 10 * 3_600_000 + 5 * 60_000,
    runsThisMinute,
    normPerMinute,
  });

  it('fires far above the agent norm, dedupes per hour', () => {
    const r = sut.evaluate(input(40, 2), p);
    expect(r.finding?.severity).toBe('error');
    expect(r.windowStart).toBe(T0 + 10 * 3_600_000);
    expect(sut.evaluate(input(19, 2), p).finding).toBeNull();
  });

  it('fires critical at the cap even for a busy or brand-new agent', () => {
    expect(sut.evaluate(input(600, 100), p).finding?.severity).toBe('critical');
    expect(sut.evaluate(input(599, null), p).finding).toBeNull();
    expect(sut.evaluate(input(50, null), { ...p, capPerMinute: 50 }).finding?.severity).toBe('critical');
  });
});
