import type { AgentControl } from '@libs/contracts';
import { applies, decide, type GuardQuery } from './decision';

const NOW = Date.UTC(2026, 5, 9, 12);
const HOUR = 3_600_000;

function control(over: Partial<AgentControl> = {}): AgentControl {
  return {
    team: 'support',
    agent_id: 'triage',
    customer_id: null,
    tool: null,
    action: 'block',
    source: 'rule',
    source_id: 'r1',
    reason: 'spent $12.40 in the last hour, over its $10 limit',
    metric: 'cost',
    amount: 10,
    observed: 12.4,
    window_s: 3600,
    currency: 'USD',
    since: NOW - HOUR,
    until: NOW + HOUR,
    actor: null,
    incident_dedupe_key: null,
    ...over,
  };
}

const query = (over: Partial<GuardQuery> = {}): GuardQuery => ({
  team: 'support',
  agent_id: 'triage',
  customer_id: null,
  tool: null,
  ...over,
});

describe(decide.name, () => {
  it('allows with no reasons when nothing applies', () => {
    expect(decide([], query(), NOW)).toEqual({ decision: 'allow', reasons: [], until: null });
  });

  it('blocks on a control of the agent, and lists it with its figures', () => {
    const sut = decide([control()], query(), NOW);
    expect(sut).toEqual({
      decision: 'block',
      reasons: [
        {
          source: 'rule',
          source_id: 'r1',
          action: 'block',
          reason: 'spent $12.40 in the last hour, over its $10 limit',
          metric: 'cost',
          amount: 10,
          observed: 12.4,
          window_s: 3600,
          currency: 'USD',
          since: new Date(NOW - HOUR).toISOString(),
          until: new Date(NOW + HOUR).toISOString(),
        },
      ],
      until: new Date(NOW + HOUR).toISOString(),
    });
  });

  it('matches team, agent, customer and tool, null in the control meaning any', () => {
    expect(applies(control({ team: 'billing' }), query(), NOW)).toBe(false);
    expect(applies(control({ agent_id: 'other' }), query(), NOW)).toBe(false);
    expect(applies(control({ agent_id: null }), query(), NOW)).toBe(true);
    expect(applies(control({ customer_id: 'acme' }), query({ customer_id: 'acme' }), NOW)).toBe(true);
    expect(applies(control({ customer_id: 'acme' }), query({ customer_id: 'globex' }), NOW)).toBe(false);
    expect(applies(control({ customer_id: 'acme' }), query(), NOW)).toBe(false);
    expect(applies(control(), query({ customer_id: 'acme', tool: 'search' }), NOW)).toBe(true);
    expect(applies(control({ tool: 'search' }), query({ tool: 'search' }), NOW)).toBe(true);
    expect(applies(control({ tool: 'search' }), query({ tool: 'browse' }), NOW)).toBe(false);
    expect(applies(control({ tool: 'search' }), query(), NOW)).toBe(false);
  });

  it('ignores a control whose until has passed, to the millisecond', () => {
    expect(decide([control({ until: NOW })], query(), NOW).decision).toBe('allow');
    expect(decide([control({ until: NOW - 1 })], query(), NOW)).toEqual({
      decision: 'allow',
      reasons: [],
      until: null,
    });
    expect(decide([control({ until: NOW + 1 })], query(), NOW).decision).toBe('block');
    expect(decide([control({ until: null })], query(), NOW).decision).toBe('block');
  });

  it('lists alert controls without blocking on them', () => {
    const alert = control({ action: 'alert', source_id: 'r2', since: NOW - 2 * HOUR });
    const allowed = decide([alert], query(), NOW);
    expect(allowed.decision).toBe('allow');
    expect(allowed.reasons.map((r) => [r.action, r.source_id])).toEqual([['alert', 'r2']]);
    expect(allowed.until).toBeNull();

    const blocked = decide([alert, control()], query(), NOW);
    expect(blocked.decision).toBe('block');
    // the block first, though the alert is older
    expect(blocked.reasons.map((r) => [r.action, r.source_id])).toEqual([
      ['block', 'r1'],
      ['alert', 'r2'],
    ]);
    expect(blocked.until).toBe(new Date(NOW + HOUR).toISOString());
  });

  it('answers the latest until of the blocking reasons, ignoring the alerts', () => {
    const sut = decide(
      [
        control({ source_id: 'a', until: NOW + HOUR }),
        control({ source_id: 'b', until: NOW + 3 * HOUR }),
        control({ source_id: 'c', until: NOW + 2 * HOUR }),
        control({ source_id: 'd', action: 'alert', until: NOW + 9 * HOUR }),
      ],
      query(),
      NOW,
    );
    expect(sut.until).toBe(new Date(NOW + 3 * HOUR).toISOString());
  });

  it('answers until null when one blocking reason has none, wherever it is', () => {
    for (const position of [0, 1, 2]) {
      const controls = [
        control({ source_id: 'a', until: NOW + HOUR }),
        control({ source_id: 'b', until: NOW + 2 * HOUR }),
      ];
      controls.splice(position, 0, control({ source: 'manual', source_id: 'm', until: null }));
      expect(decide(controls, query(), NOW)).toMatchObject({ decision: 'block', until: null });
    }
  });

  it('orders the reasons the same whatever the order of the candidates', () => {
    const controls = [
      control({ source: 'budget', source_id: 'b1', agent_id: null, since: NOW - HOUR }),
      control({ source: 'rule', source_id: 'r9', since: NOW - HOUR }),
      control({ source: 'manual', source_id: 'm1', since: NOW - 3 * HOUR }),
      control({ action: 'alert', source_id: 'r0', since: NOW - 5 * HOUR }),
    ];
    const ids = (cs: AgentControl[]) => decide(cs, query(), NOW).reasons.map((r) => r.source_id);
    expect(ids(controls)).toEqual(['m1', 'b1', 'r9', 'r0']);
    expect(ids([...controls].reverse())).toEqual(['m1', 'b1', 'r9', 'r0']);
  });
});
