import type { PricedRun } from '@libs/contracts';
import type { GuardRule } from '@libs/team-settings';
import { pricedRun, runEvent } from '../../../../test/support/fixtures';
import type { AggregationSettings } from './agent-state';
import { DEFAULT_OPTIONS, PartitionState } from './aggregator';
import { GUARD_SLOTS, GuardWindows } from './guard-windows';

const T0 = Date.UTC(2026, 5, 9, 10);
const rule = (
  over: Partial<Omit<GuardRule, 'limit'>> & { limit?: Partial<GuardRule['limit']> } = {},
): GuardRule => ({
  id: 'r1',
  action: 'block',
  match: {},
  ...over,
  limit: { metric: 'runs', amount: 5, window_s: 60, ...over.limit },
});

let seq = 0;
const run = (at: number, cost = 1e9, over: Parameters<typeof runEvent>[0] = {}): PricedRun =>
  pricedRun(
    runEvent({ run_id: `g${seq++}`, team: 'ops', agent_id: 'loop-1', finished_at: at, ...over }),
    cost,
  );

/** Feeds runs in order, the window's clock the latest finished_at, and answers the snapshot at the end. */
function windowsAfter(rules: GuardRule[], runs: PricedRun[], now?: number) {
  const g = new GuardWindows();
  let clock = 0;
  for (const p of runs) {
    clock = Math.max(clock, p.run.finished_at);
    g.apply(rules, p, p.total_cost_nanos, clock);
  }
  return { g, snapshot: g.snapshot(rules, now ?? clock) };
}

describe(GuardWindows.name, () => {
  it('sums runs, cost and tool calls over the window, with the filters of the rule applied per run', () => {
    const rules = [
      rule({ id: 'runs' }),
      rule({ id: 'cost', limit: { metric: 'cost', amount: 1, window_s: 60 } }),
      rule({ id: 'tools', limit: { metric: 'tool_calls', amount: 1, window_s: 60 } }),
      rule({ id: 'acme', match: { customer: 'acme', tool: 'search' } }),
    ];
    const runs = [
      run(T0, 2e9, { tool: 'search', customer_id: 'acme' }),
      run(T0 + 1_000, 1.5e9, { tool: 'search' }),
      run(T0 + 2_000, 0.5e9, { customer_id: 'acme' }),
    ];
    const { snapshot } = windowsAfter(rules, runs);
    const by = Object.fromEntries(snapshot.map((w) => [w.rule_id, w]));
    expect(by.runs).toMatchObject({ observed: 3, first_at: T0, metric: 'runs', window_s: 60 });
    expect(by.cost.observed).toBeCloseTo(4, 9);
    expect(by.tools.observed).toBe(2);
    expect(by.acme).toMatchObject({ observed: 1, customer_id: 'acme', tool: 'search', first_at: T0 });
  });

  it('lets runs slide out once the window has passed them, within one sub-bucket', () => {
    const r = rule();
    const width = (60 * 1000) / GUARD_SLOTS;
    const runs = [0, 10_000, 20_000, 30_000].map((d) => run(T0 + d));
    const { g } = windowsAfter([r], runs);
    // as of the last run all four count; a window later the first three have gone, the fourth too one more later
    expect(g.snapshot([r], T0 + 30_000)[0].observed).toBe(4);
    expect(g.snapshot([r], T0 + 60_000 + 10_000 + width)[0]).toMatchObject({
      observed: 2,
      first_at: T0 + 20_000,
    });
    expect(g.snapshot([r], T0 + 30_000 + 60_000 + width)).toEqual([]);
  });

  it('counts a run arriving late and out of order in its own sub-bucket, and drops one already outside the window', () => {
    const r = rule();
    const { snapshot } = windowsAfter([r], [run(T0 + 50_000), run(T0 + 5_000), run(T0 - 30_000)]);
    expect(snapshot[0]).toMatchObject({ observed: 2, first_at: T0 + 5_000 });
  });

  it('keeps at most GUARD_SLOTS sub-buckets whatever the run rate', () => {
    const r = rule({ limit: { metric: 'runs', amount: 1, window_s: 1 } });
    const runs = Array.from({ length: 5_000 }, (_, i) => run(T0 + i * 7));
    const { g, snapshot } = windowsAfter([r], runs);
    expect(g.toJSON().r1.b.length / 3).toBeLessThanOrEqual(GUARD_SLOTS);
    // the last second of runs, give or take one sub-bucket of 1000/60 ms (a run every 7 ms)
    expect(snapshot[0].observed).toBeGreaterThanOrEqual(Math.floor((1000 - 1000 / GUARD_SLOTS) / 7));
    expect(snapshot[0].observed).toBeLessThanOrEqual(Math.ceil(1000 / 7) + 1);
  });

  it('starts afresh when a rule changes under the same id, and forgets the windows of rules removed', () => {
    const { g } = windowsAfter([rule()], [run(T0), run(T0 + 1)]);
    expect(g.snapshot([rule({ limit: { window_s: 120 } })], T0 + 1)).toEqual([]);
    expect(g.snapshot([], T0 + 1)).toEqual([]);
    expect(g.empty).toBe(true);
  });

  it('is the same after its JSON round trip', () => {
    const r = rule();
    const { g } = windowsAfter([r], [run(T0), run(T0 + 20_000), run(T0 + 40_000)]);
    const copy = GuardWindows.fromJSON(JSON.parse(JSON.stringify(g)) as ReturnType<GuardWindows['toJSON']>);
    expect(copy.snapshot([r], T0 + 70_000)).toEqual(g.snapshot([r], T0 + 70_000));
  });
});

describe('aggregator guard windows', () => {
  const settings: AggregationSettings = {
    timezone: 'UTC',
    qualityThreshold: 0,
    baselineDays: 14,
    sessionIdleMs: 30 * 60_000,
    lateAfterMs: 3 * 3_600_000,
    recentRuns: 20,
    referenceDays: 7,
    guard: [rule({ id: 'loops', match: { agent: 'loop-*' } })],
  };

  it('emits the windows of the rules whose agent glob takes the agent, and restores them from the changelog', () => {
    const p = new PartitionState(0, DEFAULT_OPTIONS, () => settings);
    const runs = [0, 1, 2, 3, 4, 5].map((i) => run(T0 + i * 1_000));
    const other = run(T0 + 6_000, 1e9, { agent_id: 'research-1' });
    const result = p.process([...runs, other]);
    const byAgent = Object.fromEntries(result.stats.map((s) => [s.value.agent_id, s.value.guard]));
    expect(byAgent['loop-1']).toEqual([
      {
        rule_id: 'loops',
        metric: 'runs',
        window_s: 60,
        observed: 6,
        customer_id: null,
        tool: null,
        first_at: T0,
      },
    ]);
    expect(byAgent['research-1']).toEqual([]);

    const restored = new PartitionState(0, DEFAULT_OPTIONS, () => settings);
    for (const c of result.changelog) restored.restore(c.key, c.value);
    restored.finishRestore();
    const next = restored.process([run(T0 + 7_000)]).stats.find((s) => s.value.agent_id === 'loop-1');
    expect(next?.value.guard?.[0]).toMatchObject({ observed: 7, first_at: T0 });
  });
});
