import type { AgentStats, PricedRun } from '@libs/contracts';
import { DEFAULT_SETTINGS, type Budget } from '@libs/team-settings';
import { DEFAULT_OPTIONS, PartitionState } from '../../../aggregator/src/core/aggregator';
import { aggregationSettings } from '../../../aggregator/src/core/agent-state';
import { detectBatch } from '../detect-batch';
import { Chain } from '../testing/chain';
import { agentFleet, generateRuns } from '../testing/synthetic';
import type { Anomaly } from './anomaly';
import { Detector } from './detector';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MINUTE = 60_000;
const START = Date.UTC(2026, 1, 2);
const HOSTILE = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', 'prototype'];

/** A priced run of $0.01 like one off the topic, with `over` laid on its run. */
function priced(team: string, at: number, over: Partial<PricedRun['run']> = {}): PricedRun {
  return {
    run: {
      run_id: `run-${at}`,
      agent_id: 'agent',
      team,
      model: 'gpt-4o',
      provider: 'openai',
      input_tokens: 1000,
      output_tokens: 100,
      cache_read_tokens: null,
      cache_write_tokens: null,
      cache_write_1h_tokens: null,
      started_at: at - 1000,
      finished_at: at,
      status: 'success',
      customer_id: null,
      feature: null,
      cost_centre: null,
      session_id: null,
      tool: null,
      parent_run_id: null,
      quality_score: null,
      tags: {},
      received_at: at + 10,
      source: 'kafka',
      ...over,
    },
    team,
    provider: 'openai',
    price_status: 'priced',
    currency: 'USD',
    uncached_input_tokens: 1000,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: 100,
    input_cost_nanos: 8_000_000,
    cache_read_cost_nanos: 0,
    cache_write_cost_nanos: 0,
    output_cost_nanos: 2_000_000,
    total_cost_nanos: 10_000_000,
    rate_card_id: null,
    rate_card_version: null,
    price_tier: null,
    priced_at: at + 20,
  };
}

const byTime = (a: PricedRun, b: PricedRun) => a.run.finished_at - b.run.finished_at;

type Changelog = { key: string; value: string | null }[];

/** What a compacted topic keeps: the latest record of each key, in the order they were written. */
function compact(log: Changelog): Changelog {
  const last = new Map<string, number>();
  log.forEach((r, i) => last.set(r.key, i));
  return log.filter((r, i) => last.get(r.key) === i);
}

/** The aggregator's agent-stats records for `runs`, in slices of `size` (what the detector consumes). */
function statsOf(runs: readonly PricedRun[], size = 50): AgentStats[][] {
  const state = new PartitionState(0, DEFAULT_OPTIONS, () => aggregationSettings(DEFAULT_SETTINGS, 14));
  const slices: AgentStats[][] = [];
  for (let i = 0; i < runs.length; i += size)
    slices.push(state.process(runs.slice(i, i + size)).stats.map((s) => s.value));
  return slices;
}

/**
 * Each condition (dedupe key) and how it ended: its last state and severity. What a stream pages must not depend on
 * where its slices were cut, but the run that showed a condition may (it is judged once per slice), and with it the
 * end of a session's window (its last activity seen); a slice may cross two thresholds at once (one escalation).
 */
function outcome(anomalies: Anomaly[]): Map<string, [string, string, number]> {
  const out = new Map<string, [string, string, number]>();
  for (const a of anomalies) out.set(a.dedupe_key, [a.state, a.severity, a.window_start]);
  return out;
}

describe(Detector.name, () => {
  const fleet = agentFleet(4, 3).map((a) => ({ ...a, team: 'support' }));
  const history = [
    ...generateRuns({
      start: START,
      days: 4,
      agents: fleet,
      incidents: [
        {
          kind: 'model_swap',
          agentId: fleet[1].agentId,
          onset: START + 3 * DAY + 9 * HOUR,
          to: 'claude-opus',
        },
        {
          kind: 'retry_loop',
          agentId: fleet[2].agentId,
          onset: START + 3 * DAY + 10 * HOUR,
          retriesPerSession: 40,
          retryEveryMs: 2_000,
        },
      ],
      seed: 5,
    }),
  ];

  it('judges agent-stats, keeping only the agents with an open incident, and deletes them once resolved', () => {
    const sut = new Detector(() => DEFAULT_SETTINGS);
    const log: Changelog = [];
    const anomalies: Anomaly[] = [];
    // a quiet run of every agent two days later: the incidents' windows are over, so they resolve
    const later = fleet.map((a, i) =>
      priced('support', START + 5 * DAY + i * MINUTE, { run_id: `later-${i}`, agent_id: a.agentId }),
    );
    for (const slice of statsOf([...history, ...later])) {
      const out = detectBatch(sut, slice);
      log.push(...out.ledgers);
      anomalies.push(...out.anomalies.map((a) => a.value));
    }
    const firing = anomalies.filter((a) => a.state === 'firing');
    expect(new Set(firing.map((a) => a.rule))).toEqual(new Set(['cost_per_run_jump', 'session_outlier']));
    expect(new Set(firing.map((a) => a.agent_id))).toEqual(new Set([fleet[1].agentId, fleet[2].agentId]));
    // each condition pages once, though the aggregator lists a session again when it closes it, hours later
    const pages = new Map<string, number>();
    for (const a of firing) pages.set(a.dedupe_key, (pages.get(a.dedupe_key) ?? 0) + 1);
    expect([...pages.values()].every((n) => n === 1)).toBe(true);
    expect(firing.some((a) => a.rule === 'session_outlier')).toBe(true);
    // every record names the run that made it and the agent's top customers today
    for (const a of firing) {
      expect(a.trigger_run_id).toMatch(/./);
      expect(a.top_customers.length).toBeGreaterThan(0);
    }
    // quiet agents are never kept; an agent's record goes once its last incident resolves
    expect([...sut.agents.keys()].every((id) => !id.endsWith(fleet[0].agentId))).toBe(true);
    for (const a of sut.agents.values()) expect(Object.keys(a.tracked).length).toBeGreaterThan(0);
    // the compacted changelog holds exactly the agents kept: the others were written as deletes
    for (const r of compact(log)) expect(sut.agents.has(r.key.slice('agent:'.length))).toBe(r.value !== null);
    expect(log.some((r) => r.value === null)).toBe(true);
  });

  it('restores from its compacted changelog and then judges exactly as the live one', () => {
    const slices = statsOf(history, 20);
    const cut = Math.floor(slices.length * 0.8);
    const live = new Detector(() => DEFAULT_SETTINGS);
    const log: Changelog = [];
    for (const slice of slices.slice(0, cut)) log.push(...detectBatch(live, slice).ledgers);
    const restored = new Detector(() => DEFAULT_SETTINGS);
    for (const r of compact(log)) restored.restore(r.key, r.value === null ? null : JSON.parse(r.value));
    expect(restored.agents).toEqual(live.agents);
    const rest = (d: Detector) =>
      slices.slice(cut).flatMap((s) => detectBatch(d, s).anomalies.map((a) => a.value));
    const expected = rest(live);
    expect(expected.length).toBeGreaterThan(0);
    expect(rest(restored)).toEqual(expected);
  });

  it('never pages on a late update (corrected history), and judges nothing from a record without signals', () => {
    const slices = statsOf(history);
    const sut = new Detector(() => DEFAULT_SETTINGS);
    const late = slices.flat().map((s) => ({ ...s, late: true }));
    expect(detectBatch(sut, late).anomalies).toEqual([]);
    const old = slices.flat().map((s) => ({ ...s, signals: null }));
    expect(detectBatch(sut, old)).toEqual({ anomalies: [], controls: [], ledgers: [] });
  });

  it('pages prompt creep from the input tokens signals, unless the team turned it off or the record has none', () => {
    // 30 runs a day of 1,000 input tokens for five weeks, then 2,000 (output is most of the cost: +27% a run)
    const runs: PricedRun[] = [];
    for (let d = 0; d < 38; d++)
      for (let i = 0; i < 30; i++) {
        const r = priced('support', START + d * DAY + 8 * HOUR + i * 10 * MINUTE, {
          run_id: `creep-${d}-${i}`,
        });
        runs.push(
          d < 36
            ? r
            : {
                ...r,
                uncached_input_tokens: 2_000,
                input_cost_nanos: 5_400_000,
                total_cost_nanos: 12_700_000,
              },
        );
      }
    const records = statsOf(runs).flat();
    const judged = (settings: typeof DEFAULT_SETTINGS, stats = records) =>
      detectBatch(new Detector(() => settings), stats).anomalies.map((a) => a.value);
    const creep = judged(DEFAULT_SETTINGS).filter((a) => a.rule === 'prompt_creep');
    expect(creep.map((a) => [a.state, a.severity])).toEqual([['firing', 'error']]);
    expect(Math.floor((creep[0].detected_at - START) / DAY)).toBe(37); // yesterday and today both at 2,000
    expect(creep[0]).toMatchObject({
      observed: 2_000,
      baseline_mean: 1_000,
      cost_per_run_before_nanos: 10_000_000,
      cost_per_run_now_nanos: 12_700_000,
      details: { unit: 'tokens/run', ratio: '2.00', reference_days: '14', cost_per_run_ratio: '1.27' },
    });
    expect(creep[0].summary).toContain('2,000 tokens per run, 2.00× the 1,000');
    const off = { ...DEFAULT_SETTINGS, promptCreep: { ...DEFAULT_SETTINGS.promptCreep, enabled: false } };
    expect(judged(off).filter((a) => a.rule === 'prompt_creep')).toEqual([]);
    // a record of an aggregator that did not keep them (the Avro default, or absent)
    const older = records.map((r) => {
      const { input_tokens_per_run: _, reference_input_tokens_per_run: __, ...signals } = r.signals!;
      return { ...r, signals: signals as typeof r.signals };
    });
    expect(judged(DEFAULT_SETTINGS, older).filter((a) => a.rule === 'prompt_creep')).toEqual([]);
  });

  it('evaluates no rule the team switched off', () => {
    const judged = (settings: typeof DEFAULT_SETTINGS) =>
      statsOf(history).flatMap((slice) =>
        detectBatch(new Detector(() => settings), slice).anomalies.map((a) => a.value.rule),
      );
    expect(new Set(judged(DEFAULT_SETTINGS))).toEqual(new Set(['cost_per_run_jump', 'session_outlier']));
    const off = {
      ...DEFAULT_SETTINGS,
      costPerRun: { ...DEFAULT_SETTINGS.costPerRun, enabled: false },
      session: { ...DEFAULT_SETTINGS.session, enabled: false },
    };
    expect(judged(off)).toEqual([]);
  });

  it('pages a cheap agent’s 3x day once the team lowers spend_zscore.min_excess below the $1 default', () => {
    // about $0.34 a day ($0.01 runs: 30, 34 or 38 a day) for ten days, then $1.11: z far above 2.5, excess $0.77
    const runs: PricedRun[] = [];
    for (let d = 0; d < 11; d++) {
      const n = d < 10 ? 30 + (d % 3) * 4 : 111;
      for (let i = 0; i < n; i++)
        runs.push(
          priced('support', START + d * DAY + 8 * HOUR + i * 5 * MINUTE, { run_id: `cheap-${d}-${i}` }),
        );
    }
    const records = statsOf(runs).flat();
    const zscore = (settings: typeof DEFAULT_SETTINGS) =>
      detectBatch(new Detector(() => settings), records)
        .anomalies.map((a) => a.value)
        .filter((a) => a.rule === 'spend_zscore');
    expect(zscore(DEFAULT_SETTINGS)).toEqual([]); // under the fixed $1 floor
    const lowered = {
      ...DEFAULT_SETTINGS,
      zscore: { ...DEFAULT_SETTINGS.zscore, minExcessNanos: 250_000_000 },
    };
    const pages = zscore(lowered);
    // pages at error past $0.59 ($0.34 + the $0.25 floor), escalates past $0.84 (twice the floor)
    expect(pages.map((a) => [a.state, a.severity])).toEqual([
      ['firing', 'error'],
      ['escalated', 'critical'],
    ]);
    expect(Math.floor((pages[0].detected_at - START) / DAY)).toBe(10);
    expect(zscore({ ...lowered, zscore: { ...lowered.zscore, enabled: false } })).toEqual([]);
  });

  describe('keys that are names of Object.prototype', () => {
    const prototypeNames = Object.getOwnPropertyNames(Object.prototype);
    afterEach(() => {
      // without the fix the runs write onto Object.prototype: undo it so other specs are unaffected
      for (const name of Object.getOwnPropertyNames(Object.prototype))
        if (!prototypeNames.includes(name)) delete (Object.prototype as Record<string, unknown>)[name];
    });

    /** Every hostile name as agent, session, parent run, customer, feature and tool, ten runs each, over day 3. */
    const hostile = HOSTILE.flatMap((name, n) =>
      Array.from({ length: 10 }, (_, i) =>
        priced('support', START + 3 * DAY + 8 * HOUR + n * HOUR + i * MINUTE, {
          run_id: `${name}-${i}`,
          agent_id: name,
          session_id: name,
          parent_run_id: name,
          customer_id: name,
          feature: name,
          tool: name,
        }),
      ),
    );

    it('leaves Object.prototype untouched and what the other agents of the team see unchanged', () => {
      const control = Array.from({ length: 20 }, (_, i) =>
        priced('support', START + 3 * DAY + 9 * HOUR + i * 20 * MINUTE, {
          run_id: `control-${i}`,
          agent_id: 'billing-bot',
          session_id: 'last',
          parent_run_id: 'children',
          customer_id: 'cost',
          feature: 'runs',
        }),
      );
      const others = [...history, ...control].sort(byTime);
      const expected = new Chain(() => DEFAULT_SETTINGS).process(others).anomalies;
      const sut = new Chain(() => DEFAULT_SETTINGS);
      const { anomalies, stats } = sut.process([...others, ...hostile].sort(byTime));

      expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(prototypeNames);
      const empty = {} as Record<string, unknown>;
      for (const field of ['polluted', 'cost', 'runs', 'last', 'start', 'children'])
        expect(empty[field]).toBeUndefined();
      expect(expected.some((a) => a.rule === 'cost_per_run_jump' && a.state === 'firing')).toBe(true);
      // (the hostile runs move the slices' boundaries: compared as conditions, not as the run that showed them)
      expect(outcome(anomalies.filter((a) => !HOSTILE.includes(a.agent_id!)))).toEqual(
        outcome(expected.filter((a) => a.agent_id !== null)),
      );
      for (const name of HOSTILE) {
        const last = stats.filter((s) => s.agent_id === name).at(-1)!;
        expect(last.day.runs).toBe(10);
        expect(last.signals!.top_customers).toEqual([{ name, spend_nanos: 100_000_000 }]);
        expect(last.signals!.top_features).toEqual([{ name, spend_nanos: 100_000_000 }]);
      }
      for (const name of HOSTILE)
        expect(sut.teams.teams.get('support')!.month.customers[name]).toBe(100_000_000);
    });
  });

  describe('a run delivered again', () => {
    /** Every fifth run delivered a second time a few runs later, priced again (another offset, another priced_at). */
    function withRetries(runs: readonly PricedRun[]): PricedRun[] {
      const out: PricedRun[] = [];
      runs.forEach((run, i) => {
        out.push(run);
        const again = runs[i - 3];
        if (i >= 3 && (i - 3) % 5 === 0) out.push({ ...again, priced_at: again.priced_at + 5000 });
      });
      return out;
    }

    it('is counted once by every rule and budget, team and customer budgets included', () => {
      const dollar = 1_000_000_000;
      const budgets: Budget[] = [
        { scope: 'team', subject: '', period: 'month', amountNanos: 20 * dollar, currency: 'USD' },
        { scope: 'agent', subject: fleet[0].agentId, period: 'day', amountNanos: dollar, currency: 'USD' },
        {
          scope: 'customer',
          subject: fleet[0].customers[0],
          period: 'day',
          amountNanos: dollar,
          currency: 'USD',
        },
      ];
      const settings = { ...DEFAULT_SETTINGS, budgets };
      const plain = new Chain(() => settings);
      const expected = plain.process(history);
      const retried = withRetries(history);
      const sut = new Chain(() => settings);
      const result = sut.process(retried);

      expect(new Set(expected.anomalies.map((a) => a.rule))).toEqual(
        new Set(['budget', 'cost_per_run_jump', 'session_outlier']),
      );
      expect(expected.anomalies.some((a) => a.rule === 'budget' && a.agent_id === null)).toBe(true);
      expect(result.duplicates).toBe(retried.length - history.length);
      // Slices fall elsewhere with the retries in the stream, so a condition may be seen at another run of the slice.
      expect(outcome(result.anomalies)).toEqual(outcome(expected.anomalies));
      const spent = (c: Chain) => [...c.teams.teams].map(([id, l]) => [id, l.day, l.month]);
      expect(spent(sut)).toEqual(spent(plain));
    });
  });
});
