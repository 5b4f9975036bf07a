import { expectedDay } from '@libs/stats';
import { isWeekendDay } from '@libs/team-settings';
import type { PricedRun } from '@libs/contracts';
import { pricedRun, runEvent } from '../../../../test/support/fixtures';
import type { AggregationSettings } from './agent-state';
import { DEFAULT_OPTIONS, PartitionState, type AggregatorOptions } from './aggregator';
import { MemoryColdAgents } from './cold-agents';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const D0 = Date.UTC(2026, 0, 1);
const settings: AggregationSettings = {
  timezone: 'UTC',
  qualityThreshold: 0.5,
  baselineDays: 14,
  sessionIdleMs: 30 * 60_000,
  lateAfterMs: 3 * 3_600_000,
  recentRuns: 20,
  referenceDays: 7,
};

let seq = 0;
function run(at: number, cost: number, over: Parameters<typeof runEvent>[0] = {}): PricedRun {
  return pricedRun(runEvent({ run_id: `r${seq++}`, team: 'payments', finished_at: at, ...over }), cost);
}

function partition(options: Partial<AggregatorOptions> = {}, s: Partial<AggregationSettings> = {}) {
  return new PartitionState(0, { ...DEFAULT_OPTIONS, ...options }, () => ({ ...settings, ...s }));
}

/** The last stats record of each agent in a sequence of slices. */
function lastStats(p: PartitionState, slices: PricedRun[][]) {
  const out = new Map<string, ReturnType<PartitionState['process']>['stats'][number]['value']>();
  for (const slice of slices) for (const s of p.process(slice).stats) out.set(s.key, s.value);
  return out;
}

/** Mean and sample variance computed the textbook way, as the independent check. */
function expected(xs: number[]) {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, stddev: Math.sqrt(variance) };
}

function shuffle<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('aggregator core', () => {
  it('gives the exact mean and deviation of 14 days of daily spend, counting a day without runs as zero', () => {
    const daily = [5, 7, 0, 9, 4, 6, 8, 5, 0, 7, 6, 5, 9, 10].map((d) => d * 1e9);
    const runs: PricedRun[] = [];
    daily.forEach((spend, d) => {
      // two runs a day of half the spend each (days with 0 have no runs at all)
      if (spend > 0) runs.push(run(D0 + d * DAY + HOUR, spend / 2), run(D0 + d * DAY + 2 * HOUR, spend / 2));
    });
    runs.push(run(D0 + 14 * DAY + HOUR, 3e9, { customer_id: 'acme' }));
    const s = lastStats(partition(), [runs]).get('payments/agent-a')!;
    const e = expected(daily);
    expect(s.baseline.days).toBe(14);
    expect(s.baseline.first_day).toBe(D0);
    expect(s.baseline.spend_mean_nanos).toBeCloseTo(e.mean, 3);
    expect(s.baseline.spend_stddev_nanos).toBeCloseTo(e.stddev, 3);
    // the z-score is against the expectation that knows the week and the trend (libs/stats expectedDay, D0 a weekday)
    const weekend = daily.map((_, d) => isWeekendDay(D0 + d * DAY, 'UTC'));
    const x = expectedDay(daily, weekend, isWeekendDay(D0 + 14 * DAY, 'UTC'));
    expect(weekend.filter(Boolean)).toHaveLength(4);
    expect(s.baseline.spend_expected_nanos).toBeCloseTo(x.expected, 3);
    expect(s.baseline.spend_expected_stddev_nanos).toBeCloseTo(x.stddev, 3);
    expect(s.baseline.day_factor).toBeCloseTo(x.factor, 9);
    expect(s.baseline.spend_zscore).toBeCloseTo((3e9 - x.expected) / x.stddev, 9);
    const perRun = daily.filter((d) => d > 0).map((d) => d / 2);
    expect(s.baseline.cost_per_run_mean_nanos).toBeCloseTo(expected(perRun).mean, 3);
    expect(s.day).toMatchObject({
      start: D0 + 14 * DAY,
      spend_nanos: 3e9,
      runs: 1,
      unattributed_spend_nanos: 0,
    });
    expect(s.hour).toMatchObject({ start: D0 + 14 * DAY + HOUR, spend_nanos: 3e9, runs: 1 });
  });

  it('reports fewer days of history for a new agent and zero-fills only from its first day', () => {
    const s = lastStats(partition(), [[run(D0 + 3 * DAY, 4e9), run(D0 + 5 * DAY + HOUR, 1e9)]]).get(
      'payments/agent-a',
    )!;
    expect(s.baseline.days).toBe(2); // days 3 and 4: day 4 had no runs and counts as zero
    expect(s.baseline.spend_mean_nanos).toBe(2e9);
    expect(s.baseline.spend_stddev_nanos).toBeCloseTo(Math.sqrt(8) * 1e9, 0);
  });

  it('counts successful, failed, unattributed, unpriced and tokens per day and per hour', () => {
    const at = D0 + 10 * HOUR;
    const unpriced = { ...run(at + 3, 0), price_status: 'unpriced' as const };
    const s = lastStats(partition(), [
      [
        run(at, 1e9, { quality_score: 0.9, customer_id: 'acme' }),
        run(at + 1, 2e9, { quality_score: 0.2 }), // success but below the quality threshold
        run(at + 2, 3e9, { status: 'error' }),
        unpriced,
      ],
    ]).get('payments/agent-a')!;
    expect(s.day).toMatchObject({
      runs: 4,
      successful_runs: 2, // 0.9 and the unpriced run without a score
      failed_runs: 1,
      spend_nanos: 6e9,
      unattributed_spend_nanos: 5e9,
      unpriced_runs: 1,
      input_tokens: 4000,
      output_tokens: 400,
      cost_per_run_nanos: 1.5e9,
      cost_per_successful_run_nanos: 3e9,
    });
    expect(s.hour.runs).toBe(4);
  });

  it('gives the same stats for the same runs in any arrival order within the grace period', () => {
    const runs: PricedRun[] = [];
    for (let d = 0; d < 20; d++)
      for (let i = 0; i < 5; i++)
        runs.push(
          run(D0 + d * DAY + i * 7 * 60_000, (d * 13 + i * 7) * 1e7, {
            agent_id: `agent-${i % 2}`,
            session_id: `s-${d}-${i % 3}`,
          }),
        );
    // within the grace: shuffle inside each 2-hour span of event time only
    const inOrder = lastStats(partition(), [runs]);
    const spans = new Map<number, PricedRun[]>();
    for (const r of runs) {
      const k = Math.floor(r.run.finished_at / (2 * HOUR));
      spans.set(k, [...(spans.get(k) ?? []), r]);
    }
    const shuffled = [...spans.values()].flatMap((s, i) => shuffle(s, i + 1));
    const reordered = lastStats(partition(), [shuffled.slice(0, 37), shuffled.slice(37)]);
    for (const key of ['payments/agent-0', 'payments/agent-1']) {
      const a = inOrder.get(key)!;
      const b = reordered.get(key)!;
      expect(b.day).toEqual(a.day);
      expect(b.baseline).toEqual(a.baseline);
      expect(b.sessions.median_cost_nanos).toEqual(a.sessions.median_cost_nanos);
      expect(b.sessions.closed).toEqual(a.sessions.closed);
    }
  });

  it('counts a run_id once, within a slice and across slices', () => {
    const p = partition();
    const a = run(D0 + HOUR, 1e9);
    const b = run(D0 + HOUR + 1, 2e9);
    const first = p.process([a, a, b]);
    const second = p.process([b, a]);
    expect(first.counts).toMatchObject({ accepted: 2, duplicates: 1 });
    expect(second.counts).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(second.stats).toHaveLength(0);
    expect(first.stats[0].value.day.spend_nanos).toBe(3e9);
  });

  it("counts another team's run with the same run_id (ids are unique within a team), here and after a restore", () => {
    const p = partition();
    const ours = run(D0 + HOUR, 1e9);
    const theirs = { ...ours, team: 'search', run: { ...ours.run, team: 'search' } };
    const out = p.process([ours, theirs]);
    expect(out.counts).toMatchObject({ accepted: 2, duplicates: 0 });
    expect(out.stats.map((s) => s.key).sort()).toEqual(['payments/agent-a', 'search/agent-a']);
    const restored = partition();
    for (const c of out.changelog) restored.restore(c.key, c.value);
    expect(restored.process([theirs, ours]).counts).toMatchObject({ accepted: 0, duplicates: 2 });
  });

  it('forgets run ids after the dedupe window of stream time, and tombstones their changelog chunks', () => {
    const p = partition({ dedupeWindowMs: 10 * 60_000 });
    const a = run(D0, 1e9);
    const firstKey = p.process([a]).changelog.find((c) => c.key.startsWith('s|'))!.key;
    const later = p.process([run(D0 + 11 * 60_000, 1e9)]);
    expect(later.changelog).toContainEqual({ key: firstKey, value: null });
    expect(p.process([a]).counts.duplicates).toBe(0);
  });

  it('counts a run later than the grace period in its old bucket, marked late, and says the update is late', () => {
    const p = partition({ graceMs: HOUR });
    p.process([run(D0 + 2 * DAY + 12 * HOUR, 1e9)]);
    const late = p.process([run(D0 + DAY + 5 * HOUR, 4e9)]);
    expect(late.counts.late).toBe(1);
    const s = late.stats[0].value;
    expect(s.late).toBe(true);
    expect(s.day).toMatchObject({ start: D0 + DAY, spend_nanos: 4e9, late_runs: 1 });
    const next = p.process([run(D0 + 2 * DAY + 13 * HOUR, 1e9)]).stats[0].value;
    expect(next.late).toBe(false);
    expect(next.baseline.days).toBe(1); // the late run made day 1 the agent's first
    expect(next.baseline.spend_mean_nanos).toBe(4e9);
  });

  it('judges a team’s current windows again on request: day figures only, state untouched, budgets re-evaluated', () => {
    const p = partition();
    const t = D0 + 10 * HOUR;
    p.process([
      run(t, 2e9, { agent_id: 'a', parent_run_id: 'p1' }),
      run(t + 1000, 3e9, { agent_id: 'b', customer_id: 'acme' }),
      run(t + 2000, 1e9, { team: 'other', agent_id: 'c' }),
    ]);
    const again = p.reevaluate(new Set(['payments']), (team) => (team === 'payments' ? ['acme'] : []));
    expect(again.stats.map((s) => s.key).sort()).toEqual(['payments/a', 'payments/b']);
    const a = again.stats.find((s) => s.key === 'payments/a')!.value;
    expect(a.day.spend_nanos).toBe(2e9);
    expect(a.late).toBe(false);
    expect(a.sessions.changed).toEqual([]);
    expect(a.signals).toMatchObject({
      last_run_at: t,
      last_run_id: null,
      minutes: [],
      parents: [],
      unpriced_models: [],
    });
    // an empty entry at the team's latest run, and one per customer budget
    expect(again.teamSpend).toEqual([
      {
        team: 'payments',
        currency: 'USD',
        entries: [
          { at: t + 1000, customer_id: null, spend_nanos: 0, run_id: '', late: false },
          { at: t + 1000, customer_id: 'acme', spend_nanos: 0, run_id: '', late: false },
        ],
      },
    ]);
    // nothing changed: the next run's figures are as if the request never came
    const next = lastStats(p, [[run(t + 3000, 1e9, { agent_id: 'a' })]]).get('payments/a')!;
    expect(next.day).toMatchObject({ spend_nanos: 3e9, runs: 2 });
    expect(p.reevaluate(new Set(), () => []).stats).toEqual([]);
  });

  it('takes the team’s late-data grace, within its own', () => {
    const behind = (teamGrace: number, graceMs = 3 * HOUR) => {
      const p = partition({ graceMs }, { lateAfterMs: teamGrace });
      p.process([run(D0 + 12 * HOUR, 1e9)]);
      return p.process([run(D0 + 10 * HOUR, 1e9)]).counts.late; // two hours behind the stream time
    };
    expect(behind(3 * HOUR)).toBe(0);
    expect(behind(HOUR)).toBe(1);
    expect(behind(2 * HOUR + 1)).toBe(0);
    // a team's grace longer than the aggregator's is the aggregator's (it keeps no older hours open)
    expect(behind(24 * HOUR, HOUR)).toBe(1);
  });

  it('does not count a run older than every day it keeps, and says so', () => {
    const p = partition();
    p.process([run(D0 + 20 * DAY, 1e9)]);
    expect(p.process([run(D0, 1e9)]).counts.tooOld).toBe(1);
  });

  it('restores from its changelog to exactly the state it had: the next stats are identical', () => {
    const live = partition();
    const log = new Map<string, string | null>();
    const runs = Array.from({ length: 300 }, (_, i) =>
      run(D0 + i * 30 * 60_000, (i % 17) * 1e8, {
        agent_id: `agent-${i % 4}`,
        session_id: i % 3 ? `s-${Math.floor(i / 9)}` : null,
        parent_run_id: i % 3 ? null : `r${seq - 1}`,
      }),
    );
    for (let i = 0; i < 250; i += 50)
      for (const c of live.process(runs.slice(i, i + 50)).changelog) log.set(c.key, c.value);
    const restored = partition();
    for (const [k, v] of log) restored.restore(k, v);
    expect(restored.streamTime).toBe(live.streamTime);
    expect(restored.rememberedIds).toBe(live.rememberedIds);
    const tail = [...runs.slice(250), runs[10]]; // runs[10] is a duplicate both must drop
    const a = live.process(tail);
    const b = restored.process(tail);
    expect(b.counts).toEqual({ ...a.counts, revived: 4 }); // the restored agents came back from the cold store
    expect(b.stats).toEqual(a.stats);
  });

  it('lets agents with nothing left in the baseline leave memory, tombstoned in the changelog', () => {
    const p = partition();
    p.process([run(D0, 1e9, { agent_id: 'old' })]);
    const out = p.process([run(D0 + 20 * DAY, 1e9, { agent_id: 'new' })]);
    expect(out.counts.evicted).toBe(1);
    expect(out.changelog).toContainEqual({ key: 'a|payments/old', value: null });
    expect([...p.agents.keys()]).toEqual(['payments/new']);
  });

  it('lets idle agents leave memory and brings them back unchanged: the stats equal those of keeping them', () => {
    // one busy agent (a run every 10 minutes, in sessions) and 30 quiet ones (a run or two a day) over 20 days
    const runs: PricedRun[] = [];
    for (let d = 0; d < 20; d++) {
      for (let m = 0; m < 24 * 60; m += 10)
        runs.push(
          run(D0 + d * DAY + m * 60_000, ((d * 7 + m) % 13) * 1e7, {
            agent_id: 'busy',
            session_id: `s-${d}-${Math.floor(m / 90)}`,
          }),
        );
      for (let a = 0; a < 30; a++)
        if ((a + d) % 3 !== 0)
          runs.push(
            run(D0 + d * DAY + (a % 20) * HOUR + a * 1000, (a + d) * 1e8, {
              agent_id: `quiet-${a}`,
              session_id: `q-${a}-${d}`,
            }),
          );
    }
    runs.sort((x, y) => x.run.finished_at - y.run.finished_at);
    const slices: PricedRun[][] = [];
    for (let i = 0; i < runs.length; i += 97) slices.push(runs.slice(i, i + 97));

    const kept = partition({ idleUnloadMs: Infinity });
    // every stats record, in order: the same sequence whether or not agents left memory in between
    const a: unknown[] = [];
    for (const slice of slices) a.push(...kept.process(slice).stats);
    expect(kept.agents.size).toBe(31);
    // after an hour idle, (the most churn) at every sweep for every agent without a run in the slice, and when more
    // than 12 are in memory
    for (const options of [{ idleUnloadMs: HOUR }, { idleUnloadMs: 0 }, { maxAgentsInMemory: 12 }]) {
      const cold = new MemoryColdAgents();
      const unloading = new PartitionState(0, { ...DEFAULT_OPTIONS, ...options }, () => settings, cold);
      const b: unknown[] = [];
      let unloaded = 0;
      let revived = 0;
      let mostInMemory = 0;
      for (const slice of slices) {
        const out = unloading.process(slice);
        b.push(...out.stats);
        unloaded += out.counts.unloaded;
        revived += out.counts.revived;
        mostInMemory = Math.max(mostInMemory, unloading.agents.size);
      }
      expect(unloaded).toBeGreaterThan(300);
      expect(revived).toBeGreaterThan(300);
      expect(mostInMemory).toBeLessThan(20); // the quiet ones spend most of their time out of memory
      expect(unloading.agents.size + cold.size).toBe(31);
      expect(b).toEqual(a);
    }
  });

  describe('prompt creep signals', () => {
    /**
     * 38 days, two runs a day: 1,000 input tokens a run on days 2-15 (the reference days of day 37: [37-35, 37-21))
     * but for one day of 50,000, 2,000 a run after; day 37 has one run of 3,000 input tokens, most of them cached.
     */
    function history(firstDay = 0): PricedRun[] {
      const runs: PricedRun[] = [];
      for (let d = firstDay; d < 37; d++) {
        const input = d === 7 ? 50_000 : d < 16 ? 1_000 : 2_000;
        for (const h of [9, 15])
          runs.push(run(D0 + d * DAY + h * HOUR, 1e7 * (d < 16 ? 1 : 1.2), { input_tokens: input }));
      }
      const cached = run(D0 + 37 * DAY + 9 * HOUR, 1.5e7, { input_tokens: 500 });
      runs.push({ ...cached, cache_read_tokens: 2_000, cache_write_tokens: 500 });
      return runs;
    }
    const signalsOf = (p: PartitionState, runs: PricedRun[]) =>
      lastStats(p, [runs]).get('payments/agent-a')!.signals!;

    it('gives input tokens per run of yesterday and today, cache reads and writes counted', () => {
      // (2 × 2,000 + 500 + 2,000 + 500) / 3
      expect(signalsOf(partition(), history()).input_tokens_per_run).toBeCloseTo(7_000 / 3, 9);
    });

    it('gives the median of daily input tokens and cost per run 35 to 22 days back: one odd day does not move it', () => {
      const expected = { input_tokens_per_run: 1_000, cost_per_run_nanos: 1e7, days: 14 };
      expect(signalsOf(partition(), history()).reference_input_tokens_per_run).toEqual(expected);
      // the same whether the days have left the day ring (14 baseline days) or some are still in it (20)
      expect(signalsOf(partition({ maxBaselineDays: 20 }), history()).reference_input_tokens_per_run).toEqual(
        expected,
      );
    });

    it('needs five days with runs among them', () => {
      expect(signalsOf(partition(), history(12)).reference_input_tokens_per_run).toBeNull(); // days 12-15
      expect(signalsOf(partition(), history(11)).reference_input_tokens_per_run).toMatchObject({ days: 5 });
    });

    it('keeps them across a restore; days kept by a version that had no input tokens are not counted', () => {
      const runs = history();
      const live = partition();
      const log = new Map<string, string | null>();
      for (const c of live.process(runs.slice(0, -1)).changelog) log.set(c.key, c.value);
      const restore = (edit: (j: { g: { d?: number[]; di?: number[] } }) => void) => {
        const p = partition();
        for (const [k, v] of log) {
          if (!k.startsWith('a|') || v === null) p.restore(k, v);
          else {
            const j = JSON.parse(v) as { g: { d?: number[]; di?: number[] } };
            edit(j);
            p.restore(k, JSON.stringify(j));
          }
        }
        return p;
      };
      const last = runs.slice(-1);
      const restored = signalsOf(
        restore(() => {}),
        last,
      );
      expect(restored).toEqual(signalsOf(live, last));
      expect(restored.reference_input_tokens_per_run).toMatchObject({
        input_tokens_per_run: 1_000,
        days: 14,
      });
      // an older record: the days that left the ring without their input tokens (here every reference day)
      const older = restore((j) => {
        expect(j.g.di).toHaveLength(j.g.d!.length / 3);
        delete j.g.di;
      });
      const fromOlder = signalsOf(older, last);
      expect(fromOlder.reference_input_tokens_per_run).toBeNull();
      expect(fromOlder.reference_cost_per_run).toEqual(restored.reference_cost_per_run);
      expect(fromOlder.input_tokens_per_run).toBe(restored.input_tokens_per_run);
    });
  });

  describe('sessions on the changelog', () => {
    // one agent in ~100 concurrent chats a day, one in a few sessions, quiet ones; 6 days, slices of 61 runs
    const runs: PricedRun[] = [];
    for (let d = 0; d < 6; d++)
      for (let m = 0; m < 24 * 60; m += 5) {
        runs.push(
          run(D0 + d * DAY + m * 60_000, ((d + m) % 11) * 1e7, {
            agent_id: 'chatty',
            session_id: `c-${d}-${(m * 7) % 97}`,
          }),
        );
        if (m % 30 === 0)
          runs.push(
            run(D0 + d * DAY + m * 60_000 + 1, 3e7, { agent_id: 'steady', session_id: `s-${d}-${m % 120}` }),
          );
        if (m % 240 === 0)
          runs.push(
            run(D0 + d * DAY + m * 60_000 + 2, 1e8, {
              agent_id: `quiet-${(d + m) % 5}`,
              session_id: `q-${d}`,
            }),
          );
      }
    const slices: PricedRun[][] = [];
    for (let i = 0; i < runs.length; i += 61) slices.push(runs.slice(i, i + 61));

    /** The latest record of each key, in the order written (what a compacted topic keeps). */
    const compact = (log: { key: string; value: string | null }[]) => {
      const last = new Map<string, number>();
      log.forEach((r, i) => last.set(r.key, i));
      return log.filter((r, i) => last.get(r.key) === i);
    };

    it('writes an open session as a record of its own when it changes: agent records stay small', () => {
      const p = partition({ idleUnloadMs: Infinity });
      let biggest = 0;
      let withSessions = 0;
      let sessionRecords = 0;
      let closings = 0;
      for (const slice of slices)
        for (const c of p.process(slice).changelog) {
          if (c.key.startsWith('a|') && c.value) biggest = Math.max(biggest, c.value.length);
          if (c.key.startsWith('a|') && c.value?.includes('"sessions"')) withSessions++;
          if (c.key.startsWith('x|')) sessionRecords++;
          if (c.key.startsWith('x|') && c.value === null) closings++;
        }
      const full = JSON.stringify(p.agents.get('payments/chatty')); // its cold-store form, with the sessions
      const { sessions } = JSON.parse(full) as { sessions: unknown[] };
      expect(sessions.length).toBeGreaterThan(40);
      // no agent record ever carried the open sessions (at most its closed costs, bounded, grow)
      expect(biggest).toBeLessThan(full.length - JSON.stringify(sessions).length + 100);
      expect(sessionRecords).toBeGreaterThan(1000);
      expect(closings).toBeGreaterThan(300);
      expect(withSessions).toBe(0);
    });

    it('restores from the compacted changelog, at any point, to the state it had: the stats that follow are identical', () => {
      for (const options of [{ idleUnloadMs: Infinity }, { idleUnloadMs: HOUR }, { idleUnloadMs: 0 }])
        for (const cut of [7, 40, 95, slices.length - 3]) {
          const live = new PartitionState(
            0,
            { ...DEFAULT_OPTIONS, ...options },
            () => settings,
            new MemoryColdAgents(),
          );
          const log: { key: string; value: string | null }[] = [];
          for (const slice of slices.slice(0, cut)) log.push(...live.process(slice).changelog);
          const restored = new PartitionState(
            0,
            { ...DEFAULT_OPTIONS, ...options },
            () => settings,
            new MemoryColdAgents(),
          );
          for (const c of compact(log)) restored.restore(c.key, c.value);
          restored.finishRestore();
          const rest = slices.slice(cut);
          expect(rest.map((slice) => restored.process(slice).stats)).toEqual(
            rest.map((slice) => live.process(slice).stats),
          );
        }
    });

    it('deletes the session records of an agent it forgets: one coming back under the same key starts afresh', () => {
      for (const idleUnloadMs of [Infinity, HOUR]) {
        const slices = [
          [run(D0, 1e9, { agent_id: 'back', session_id: 'old-chat' })],
          [run(D0 + 20 * DAY, 1e9, { agent_id: 'other' })], // 'back' has nothing left in the baseline: forgotten
          [run(D0 + 20 * DAY + HOUR, 2e9, { agent_id: 'back', session_id: 'new-chat' })],
        ];
        const live = new PartitionState(
          0,
          { ...DEFAULT_OPTIONS, idleUnloadMs },
          () => settings,
          new MemoryColdAgents(),
        );
        const log: { key: string; value: string | null }[] = [];
        for (const slice of slices.slice(0, 2)) log.push(...live.process(slice).changelog);
        expect(log).toContainEqual({ key: 'x|["payments/back","old-chat"]', value: null });
        const restored = new PartitionState(
          0,
          { ...DEFAULT_OPTIONS, idleUnloadMs },
          () => settings,
          new MemoryColdAgents(),
        );
        for (const c of compact(log)) restored.restore(c.key, c.value);
        restored.finishRestore();
        const back = restored.process(slices[2]).stats.find((st) => st.key === 'payments/back')!;
        expect(back).toEqual(live.process(slices[2]).stats.find((st) => st.key === 'payments/back'));
        expect(back.value.sessions.open).toBe(1);
      }
    });

    it('restores agent records written with their sessions inside (before sessions had records of their own)', () => {
      const live = partition({ idleUnloadMs: Infinity });
      const log: { key: string; value: string | null }[] = [];
      for (const slice of slices.slice(0, 50)) log.push(...live.process(slice).changelog);
      const legacy = [
        ...compact(log).filter((c) => !c.key.startsWith('x|') && !c.key.startsWith('a|')),
        ...[...live.agents].map(([key, agent]) => ({ key: `a|${key}`, value: JSON.stringify(agent) })),
      ];
      expect(legacy.some((c) => c.value?.includes('"sessions"'))).toBe(true);
      const restored = partition();
      for (const c of legacy) restored.restore(c.key, c.value);
      const rest = slices.slice(50);
      expect(rest.map((slice) => restored.process(slice).stats)).toEqual(
        rest.map((slice) => live.process(slice).stats),
      );
    });
  });

  it('closes, when an agent comes back, the sessions the sweeps would have closed while it was away', () => {
    const slices = [
      [run(D0, 1e9, { agent_id: 'quiet', session_id: 's1' })],
      [run(D0 + 90 * 60_000, 1e9, { agent_id: 'busy' })], // a sweep: s1 is still open; 'quiet' may leave memory
      [run(D0 + 5 * HOUR, 1e9, { agent_id: 'busy' })], // a sweep: s1 (idle 5 h > 30 min + 3 h grace) closes
      [run(D0 + 6 * HOUR, 2e9, { agent_id: 'quiet', session_id: 's2' })],
    ];
    const sessionsOf = (p: PartitionState) =>
      slices.map((slice) => p.process(slice).stats.find((st) => st.key === 'payments/quiet')?.value.sessions);
    const cold = new MemoryColdAgents();
    const kept = sessionsOf(partition({ idleUnloadMs: Infinity }));
    const unloaded = sessionsOf(
      new PartitionState(0, { ...DEFAULT_OPTIONS, idleUnloadMs: 0 }, () => settings, cold),
    );
    expect(kept[3]).toMatchObject({ open: 1, closed: 1, changed: [{ session_key: 's2', closed: false }] });
    expect(unloaded).toEqual(kept);
  });

  it('forgets an agent waiting out of memory once nothing of it is inside the baseline, in the changelog too', () => {
    const cold = new MemoryColdAgents();
    const p = new PartitionState(0, { ...DEFAULT_OPTIONS, idleUnloadMs: HOUR }, () => settings, cold);
    p.process([run(D0, 1e9, { agent_id: 'old' })]);
    p.process([run(D0 + 5 * HOUR, 1e9, { agent_id: 'other' })]);
    expect(cold.size).toBe(1);
    expect(p.agents.has('payments/old')).toBe(false);
    const out = p.process([run(D0 + 20 * DAY, 1e9, { agent_id: 'new' })]);
    expect(out.changelog).toContainEqual({ key: 'a|payments/old', value: null });
    expect(out.changelog).toContainEqual({ key: 'a|payments/other', value: null });
    expect(out.counts.evicted).toBe(2);
    expect(cold.size).toBe(0);
  });

  it('keeps the last version of each agent from a changelog that holds several, tombstones included', () => {
    const live = partition({ idleUnloadMs: Infinity });
    const log: { key: string; value: string | null }[] = [];
    for (const d of [0, 1, 2])
      log.push(...live.process([run(D0 + d * HOUR, 1e9, { agent_id: 'kept' })]).changelog);
    log.push(...live.process([run(D0 + 3 * HOUR, 1e9, { agent_id: 'gone' })]).changelog);
    log.push({ key: 'a|payments/gone', value: null });
    const cold = new MemoryColdAgents();
    const restored = new PartitionState(0, DEFAULT_OPTIONS, () => settings, cold);
    for (const c of log) restored.restore(c.key, c.value);
    restored.finishRestore();
    expect(cold.size).toBe(1);
    // but for the last sweep it was in memory for: a sweep that changes nothing about an agent writes nothing
    const withoutSweep = (json: string) => ({ ...(JSON.parse(json) as object), swept: undefined });
    expect(withoutSweep(cold.take('payments/kept')!)).toEqual(
      withoutSweep(JSON.stringify(live.agents.get('payments/kept'))),
    );
  });

  it('restores every agent out of memory first, and each comes back with its next run', () => {
    const live = partition({ idleUnloadMs: Infinity });
    const log = new Map<string, string | null>();
    const runs = Array.from({ length: 40 }, (_, i) =>
      run(D0 + i * 60_000, 1e8 * (i + 1), { agent_id: `a${i % 8}` }),
    );
    for (const c of live.process(runs).changelog) log.set(c.key, c.value);
    const cold = new MemoryColdAgents();
    const restored = new PartitionState(0, DEFAULT_OPTIONS, () => settings, cold);
    for (const [k, v] of log) restored.restore(k, v);
    restored.finishRestore();
    expect(restored.agents.size).toBe(0);
    expect(cold.size).toBe(8);
    const next = [run(D0 + HOUR, 5e8, { agent_id: 'a3' })];
    const x = live.process(next);
    const y = restored.process(next);
    expect(y.counts.revived).toBe(1);
    expect(y.stats).toEqual(x.stats);
    expect(cold.size).toBe(7);
  });

  it('sums sessions by session_id and by the root of the parent_run_id tree, with the median closed session', () => {
    const p = partition({}, { sessionIdleMs: 10 * 60_000 });
    const t = D0 + HOUR;
    const root = run(t, 1e9);
    const slices = [
      [root, run(t + 1000, 2e9, { parent_run_id: root.run.run_id })],
      [run(t, 5e9, { session_id: 'chat-1' }), run(t + 2000, 1e9, { session_id: 'chat-1' })],
      [run(t + 5 * HOUR, 1e9, { session_id: 'chat-2' })], // closes both (idle 10 min + grace 3 h)
    ];
    const s = lastStats(p, slices).get('payments/agent-a')!;
    expect(s.sessions.closed).toBe(2);
    expect(s.sessions.median_cost_nanos).toBe(4.5e9); // (3 + 6) / 2
    expect(s.sessions.changed.map((c) => [c.session_key, c.cost_nanos, c.runs, c.closed])).toEqual([
      ['chat-1', 6e9, 2, true],
      [`tree:${root.run.run_id}`, 3e9, 2, true],
      ['chat-2', 1e9, 1, false],
    ]);
  });

  it('follows the team time zone for days', () => {
    const p = new PartitionState(0, DEFAULT_OPTIONS, () => ({ ...settings, timezone: 'America/New_York' }));
    const s = p.process([run(Date.UTC(2026, 0, 2, 3), 1e9)]).stats[0].value; // 22:00 on Jan 1st in New York
    expect(s.timezone).toBe('America/New_York');
    expect(s.day.start).toBe(Date.UTC(2026, 0, 1, 5));
  });
});
