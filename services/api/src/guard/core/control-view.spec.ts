import type { AgentControl } from '@libs/contracts';
import { ControlView } from './control-view';

function control(team: string, agentId: string | null, sourceId: string): AgentControl {
  return {
    team,
    agent_id: agentId,
    customer_id: null,
    tool: null,
    action: 'block',
    source: agentId === null ? 'budget' : 'rule',
    source_id: sourceId,
    reason: 'r',
    metric: null,
    amount: null,
    observed: null,
    window_s: null,
    currency: null,
    since: 0,
    until: null,
    actor: null,
    incident_dedupe_key: null,
  };
}

const ids = (sut: ControlView, team: string, agent: string) =>
  [...sut.candidates(team, agent)].map((c) => c.source_id).sort();

describe(ControlView.name, () => {
  it('finds the controls of an agent and those on every agent of its team, and no other', () => {
    const sut = new ControlView();
    sut.apply('rule:1|support/triage', control('support', 'triage', '1'));
    sut.apply('rule:2|support/other', control('support', 'other', '2'));
    sut.apply('budget:3|support', control('support', null, '3'));
    sut.apply('rule:4|billing/triage', control('billing', 'triage', '4'));
    expect(ids(sut, 'support', 'triage')).toEqual(['1', '3']);
    expect(ids(sut, 'support', 'other')).toEqual(['2', '3']);
    expect(ids(sut, 'billing', 'triage')).toEqual(['4']);
    expect(ids(sut, 'nobody', 'triage')).toEqual([]);
    expect(sut.size).toBe(4);
  });

  it('keeps the latest record of a key, moving it when its agent changes', () => {
    const sut = new ControlView();
    sut.apply('k', control('support', 'triage', 'first'));
    sut.apply('k', control('support', 'triage', 'second'));
    expect(ids(sut, 'support', 'triage')).toEqual(['second']);
    sut.apply('k', control('support', null, 'team-wide'));
    expect(ids(sut, 'support', 'other')).toEqual(['team-wide']);
    sut.apply('k', control('support', 'other', 'moved'));
    expect(ids(sut, 'support', 'triage')).toEqual([]);
    expect(ids(sut, 'support', 'other')).toEqual(['moved']);
    expect(sut.size).toBe(1);
  });

  it('drops a control on its tombstone, and a tombstone of an unknown key is nothing', () => {
    const sut = new ControlView();
    sut.apply('a', control('support', 'triage', 'a'));
    sut.apply('b', control('support', null, 'b'));
    sut.apply('a', null);
    sut.apply('b', null);
    sut.apply('never', null);
    expect(ids(sut, 'support', 'triage')).toEqual([]);
    expect(sut.size).toBe(0);
    expect(sut.get('a')).toBeUndefined();
  });

  it('does not confuse a team and agent that run together', () => {
    const sut = new ControlView();
    sut.apply('x', control('a/b', 'c', 'x'));
    sut.apply('y', control('a', 'b/c', 'y'));
    expect(ids(sut, 'a/b', 'c')).toEqual(['x']);
    expect(ids(sut, 'a', 'b/c')).toEqual(['y']);
  });
});
