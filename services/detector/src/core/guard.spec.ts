import { controlKey, type AgentControl, type TeamSpend } from '@libs/contracts';
import { DEFAULT_SETTINGS, type Budget, type DetectorSettings, type GuardRule } from '@libs/team-settings';
import { pricedRun, runEvent } from '../../../../test/support/fixtures';
import { aggregationSettings } from '../../../aggregator/src/core/agent-state';
import { DEFAULT_OPTIONS, PartitionState } from '../../../aggregator/src/core/aggregator';
import { detectBatch, detectTeamBatch, type DetectedBatch } from '../detect-batch';
import { Detector } from './detector';
import { ruleReason } from './guard';
import { TeamDetector } from './team-detector';

const T0 = Date.UTC(2026, 5, 9, 10);
const loopRule: GuardRule = {
  id: 'loop-cap',
  action: 'block',
  match: { agent: 'loop-*' },
  limit: { metric: 'runs', amount: 5, window_s: 60 },
};

/** The chain of the services (aggregator core -> detector core) for one partition, on a clock the test moves. */
function chain(initial: DetectorSettings) {
  const clock = { t: T0 };
  const guard = { now: () => clock.t };
  const team = { settings: initial };
  const aggregator = new PartitionState(0, DEFAULT_OPTIONS, () => aggregationSettings(team.settings));
  const sut = new Detector(
    () => team.settings,
    () => null,
    guard,
  );
  let seq = 0;
  const runs = (times: number[], over: Parameters<typeof runEvent>[0] = {}) =>
    detectBatch(
      sut,
      aggregator
        .process(
          times.map((at) =>
            pricedRun(
              runEvent({
                run_id: `g${seq++}`,
                team: 'ops',
                agent_id: 'loop-7',
                customer_id: 'c0',
                finished_at: at,
                ...over,
              }),
              10_000_000, // $0.01: no other rule's floor is reached
            ),
          ),
        )
        .stats.map((s) => s.value),
    );
  return { clock, team, sut, runs, sweep: () => detectBatch(sut, []) };
}

const withGuard = (rules: GuardRule[], budgets: Budget[] = []): DetectorSettings => ({
  ...DEFAULT_SETTINGS,
  budgets,
  guard: { rules },
});

const blocks = (b: DetectedBatch<string>) => b.controls.filter((c) => c.value !== null);

describe('guard decisions', () => {
  it('blocks an agent whose runs cross a rule, once, until the window has slid past the crossing', () => {
    const { runs } = chain(withGuard([loopRule]));
    const five = runs([0, 1, 2, 3, 4].map((i) => T0 + i * 1_000));
    expect(five.controls).toEqual([]);
    expect(five.anomalies).toEqual([]);

    const sixth = runs([T0 + 5_000]);
    const key = controlKey.rule('loop-cap', 'ops', 'loop-7');
    expect(sixth.controls).toHaveLength(1);
    const control = sixth.controls[0].value!;
    expect(sixth.controls[0].key).toBe(key);
    expect(control).toMatchObject<Partial<AgentControl>>({
      team: 'ops',
      agent_id: 'loop-7',
      action: 'block',
      source: 'rule',
      source_id: 'loop-cap',
      metric: 'runs',
      amount: 5,
      observed: 6,
      window_s: 60,
      since: T0 + 5_000,
      until: T0 + 5_000 + 60_000,
    });
    expect(control.reason).toBe(
      `Guard rule loop-cap: agent loop-7 reached 6 runs within 60 s, over its limit of 5 runs, since ${new Date(T0 + 5_000).toISOString()}.`,
    );
    const [anomaly] = sixth.anomalies.map((a) => a.value);
    expect(anomaly).toMatchObject({
      rule: 'guard_limit',
      severity: 'critical',
      state: 'firing',
      agent_id: 'loop-7',
      observed: 6,
      threshold: 5,
      window_start: T0 + 5_000,
      window_end: T0 + 65_000,
      incident_action: 'open',
    });
    expect(control.incident_dedupe_key).toBe(anomaly.dedupe_key);

    // one more run a second later: still over, no second page, until moved less than a tenth of the window: no record
    const seventh = runs([T0 + 6_000]);
    expect(seventh.anomalies).toEqual([]);
    expect(seventh.controls).toEqual([]);
  });

  it('publishes the block again when runs keep it over long enough to push until a tenth of the window later', () => {
    const { runs } = chain(withGuard([loopRule]));
    runs([0, 1, 2, 3, 4, 5].map((i) => T0 + i * 1_000));
    const later = runs([T0 + 12_000]);
    expect(blocks(later).map((c) => c.value!.until)).toEqual([T0 + 12_000 + 60_000]);
    expect(blocks(later)[0].value!.since).toBe(T0 + 5_000);
  });

  it('lifts a block when until passes on the wall clock, with a tombstone and the resolution in its incident', () => {
    const { clock, runs, sweep, sut } = chain(withGuard([loopRule]));
    runs([0, 1, 2, 3, 4, 5].map((i) => T0 + i * 1_000));
    expect([sut.hasDue(T0 + 64_999), sut.hasDue(T0 + 65_000)]).toEqual([false, true]);
    clock.t = T0 + 64_999;
    expect(sweep()).toMatchObject({ controls: [], anomalies: [] });
    clock.t = T0 + 65_000;
    const lifted = sweep();
    expect(lifted.controls).toEqual([{ key: controlKey.rule('loop-cap', 'ops', 'loop-7'), value: null }]);
    expect(lifted.anomalies.map((a) => a.value)).toMatchObject([
      { rule: 'guard_limit', state: 'resolved', incident_action: 'resolve', incident_signals: 0 },
    ]);
    expect(lifted.ledgers).toEqual([{ key: 'agent:ops/loop-7', value: null }]);
    expect(sut.hasDue(Infinity)).toBe(false);
    expect(sweep()).toMatchObject({ controls: [], anomalies: [], ledgers: [] });
  });

  it('lifts a decision at once when the team removes its rule or turns a budget’s block_at_100 off', () => {
    const budget: Budget = {
      scope: 'agent',
      subject: 'loop-7',
      period: 'day',
      amountNanos: 3e7,
      currency: 'USD',
      blockAt100: true,
    };
    const { runs, sweep, sut, team } = chain(withGuard([loopRule], [budget]));
    expect(blocks(runs([0, 1, 2, 3, 4, 5].map((i) => T0 + i * 1_000)))).toHaveLength(2);
    expect(sut.hasDue(T0)).toBe(false);
    team.settings = withGuard([], [{ ...budget, blockAt100: false }]);
    expect(sut.hasDue(T0)).toBe(true);
    const lifted = sweep();
    expect(lifted.controls.map((c) => [c.key, c.value])).toEqual([
      [controlKey.rule('loop-cap', 'ops', 'loop-7'), null],
      [controlKey.budget('agent:loop-7:day', 'ops'), null],
    ]);
    expect(lifted.anomalies.map((a) => [a.value.rule, a.value.state])).toEqual([['guard_limit', 'resolved']]);
  });

  it('keeps the decision across a restore from the changelog, and the restored detector lifts it', () => {
    const { clock, runs, sut } = chain(withGuard([loopRule]));
    const crossed = runs([0, 1, 2, 3, 4, 5].map((i) => T0 + i * 1_000));
    const restored = new Detector(
      () => withGuard([loopRule]),
      () => null,
      { now: () => clock.t },
    );
    for (const l of crossed.ledgers) restored.restore(l.key, l.value === null ? null : JSON.parse(l.value));
    expect([restored.hasDue(T0 + 64_999), restored.hasDue(T0 + 65_000)]).toEqual([false, true]);
    expect(sut.hasDue(T0 + 65_000)).toBe(true);
    clock.t = T0 + 70_000;
    expect(detectBatch(restored, []).controls).toEqual([
      { key: controlKey.rule('loop-cap', 'ops', 'loop-7'), value: null },
    ]);
  });

  it('only alerts for an alert rule, and resolves as soon as the window is back within the limit', () => {
    const alert: GuardRule = {
      ...loopRule,
      id: 'loop-warn',
      action: 'alert',
      limit: { ...loopRule.limit, window_s: 10 },
    };
    const { runs } = chain(withGuard([alert]));
    const crossed = runs([0, 1, 2, 3, 4, 5].map((i) => T0 + i * 1_000));
    expect(crossed.controls).toEqual([]);
    expect(crossed.anomalies.map((a) => a.value)).toMatchObject([{ severity: 'warning', state: 'firing' }]);
    const cleared = runs([T0 + 20_000]);
    expect(cleared.anomalies.map((a) => a.value)).toMatchObject([{ rule: 'guard_limit', state: 'resolved' }]);
  });

  it('judges only the agents its glob takes, only runs passing its filters, and no window already past', () => {
    const acme: GuardRule = { ...loopRule, match: { agent: 'loop-*', customer: 'acme' } };
    const { runs } = chain(withGuard([acme]));
    expect(runs([0, 1, 2, 3, 4, 5].map((i) => T0 + i * 1_000)).controls).toEqual([]);
    expect(
      runs(
        [0, 1, 2, 3, 4, 5].map((i) => T0 + i * 1_000),
        { agent_id: 'research-1', customer_id: 'acme' },
      ).controls,
    ).toEqual([]);
    // an hour-old burst (a backfill): its window slid past long ago, nothing is decided
    expect(
      runs(
        [0, 1, 2, 3, 4, 5].map((i) => T0 - 3_600_000 + i),
        { customer_id: 'acme', agent_id: 'loop-8' },
      ).controls,
    ).toEqual([]);
    expect(
      runs(
        [6, 7, 8, 9, 10, 11].map((i) => T0 + i * 1_000),
        { customer_id: 'acme' },
      ).controls,
    ).toHaveLength(1);
  });

  it('blocks an agent budget with block_at_100 at 100% until the end of its period, then lifts it', () => {
    const budget: Budget = {
      scope: 'agent',
      subject: 'loop-7',
      period: 'day',
      amountNanos: 3e7,
      currency: 'USD',
      blockAt100: true,
    };
    const { runs, clock, sweep } = chain(withGuard([], [budget]));
    expect(blocks(runs([T0, T0 + 1_000]))).toEqual([]);
    const spent = runs([T0 + 2_000]);
    const dayEnd = Date.UTC(2026, 5, 10);
    expect(spent.controls).toHaveLength(1);
    expect(spent.controls[0].key).toBe(controlKey.budget('agent:loop-7:day', 'ops'));
    expect(spent.controls[0].value).toMatchObject({
      agent_id: 'loop-7',
      customer_id: null,
      source: 'budget',
      source_id: 'agent:loop-7:day',
      amount: 0.03,
      until: dayEnd,
    });
    expect(spent.anomalies.map((a) => a.value)).toMatchObject([{ rule: 'budget', severity: 'critical' }]);
    clock.t = dayEnd;
    expect(sweep().controls).toEqual([{ key: controlKey.budget('agent:loop-7:day', 'ops'), value: null }]);
  });

  it('blocks a customer budget with block_at_100 from the team stage, and not one without it', () => {
    const budgets: Budget[] = [
      {
        scope: 'customer',
        subject: 'acme',
        period: 'month',
        amountNanos: 2e9,
        currency: 'USD',
        blockAt100: true,
      },
      { scope: 'team', subject: '', period: 'month', amountNanos: 2e9, currency: 'USD' },
    ];
    const clock = { t: T0 };
    const sut = new TeamDetector(() => withGuard([], budgets), { now: () => clock.t });
    const spend: TeamSpend = {
      team: 'ops',
      currency: 'USD',
      entries: [{ at: T0, customer_id: 'acme', spend_nanos: 2.5e9, run_id: 'r1', late: false }],
    };
    const batch = detectTeamBatch(sut, [spend]);
    const monthEnd = Date.UTC(2026, 6, 1);
    expect(batch.controls).toEqual([
      {
        key: controlKey.budget('customer:acme:month', 'ops'),
        value: expect.objectContaining({
          agent_id: null,
          customer_id: 'acme',
          until: monthEnd,
          source: 'budget',
        }),
      },
    ]);
    expect(batch.anomalies.filter((a) => a.value.severity === 'critical')).toHaveLength(2);
    expect(
      detectTeamBatch(sut, [{ ...spend, entries: [{ ...spend.entries[0], run_id: 'r2' }] }]).controls,
    ).toEqual([]);
    expect([sut.hasDue(monthEnd - 1), sut.hasDue(monthEnd)]).toEqual([false, true]);
    clock.t = monthEnd;
    expect(detectTeamBatch(sut, []).controls).toEqual([
      { key: controlKey.budget('customer:acme:month', 'ops'), value: null },
    ]);
  });

  it('takes no part without a clock (backtests): no decision, no guard anomaly', () => {
    const settings = withGuard([loopRule]);
    const aggregator = new PartitionState(0, DEFAULT_OPTIONS, () => aggregationSettings(settings));
    const sut = new Detector(() => settings);
    const stats = aggregator
      .process(
        [0, 1, 2, 3, 4, 5, 6].map((i) =>
          pricedRun(runEvent({ run_id: `b${i}`, team: 'ops', agent_id: 'loop-1', finished_at: T0 + i }), 1e9),
        ),
      )
      .stats.map((s) => s.value);
    expect(stats[0].guard?.[0]?.observed).toBe(7);
    const batch = detectBatch(sut, stats);
    expect(batch.controls).toEqual([]);
    expect(batch.anomalies.filter((a) => a.value.rule === 'guard_limit')).toEqual([]);
  });
});

describe(ruleReason.name, () => {
  it('names the rule, the agent, what was observed against the limit in its unit, the filters and since when', () => {
    const rule: GuardRule = {
      id: 'acme-spend',
      action: 'block',
      match: { customer: 'acme', tool: 'search' },
      limit: { metric: 'cost', amount: 2, window_s: 3600 },
    };
    expect(ruleReason(rule, 'research-1', 2.5, 'USD', T0)).toBe(
      'Guard rule acme-spend: agent research-1 reached $2.50 of spend (customer acme, tool search) within 3600 s, ' +
        'over its limit of $2.00 of spend, since 2026-06-09T10:00:00.000Z.',
    );
  });
});
