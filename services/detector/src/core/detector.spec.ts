import type { PricedRun } from '@libs/contracts';
import { DEFAULT_SETTINGS, type Budget } from '@libs/team-settings';
import { agentFleet, generateRuns } from '../testing/synthetic';
import type { Anomaly } from './anomaly';
import { Detector, type LedgerKey } from './detector';
import { TeamDetector } from './team-detector';

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

/** Runs `runs` in batches of `size` as the service does (onRun for each, then endBatch). */
function replay(
  sut: Detector,
  runs: readonly PricedRun[],
  size = 50,
  teams?: TeamDetector,
): { anomalies: Anomaly[]; duplicates: number } {
  const anomalies: Anomaly[] = [];
  let duplicates = 0;
  for (let i = 0; i < runs.length; i += size) {
    const changed = new Set<LedgerKey>();
    for (const run of runs.slice(i, i + size)) {
      const out = sut.onRun(run, changed);
      anomalies.push(...out.anomalies);
      if (out.duplicate) duplicates++;
    }
    sut.endBatch(changed);
    // what the slice's teams spent goes on to their team detector (in the service: the team-spend topic)
    for (const spend of sut.takeTeamSpend()) anomalies.push(...(teams?.onSpend(spend, new Set()) ?? []));
  }
  return { anomalies, duplicates };
}

const byTime = (a: PricedRun, b: PricedRun) => a.run.finished_at - b.run.finished_at;

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

    it('keeps them as ordinary keys of the agent that sent them, and Object.prototype untouched', () => {
      const sut = new Detector(() => DEFAULT_SETTINGS);
      const teams = new TeamDetector(() => DEFAULT_SETTINGS);
      replay(sut, [...history, ...hostile].sort(byTime), 50, teams);

      expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(prototypeNames);
      const empty = {} as Record<string, unknown>;
      for (const field of ['polluted', 'cost', 'runs', 'last', 'start', 'children'])
        expect(empty[field]).toBeUndefined();
      for (const name of HOSTILE) {
        const a = sut.agents.get(`support/${name}`)!;
        expect(a.agentId).toBe(name);
        expect(Object.keys(a.sessions)).toEqual([name]);
        expect(a.sessions[name]).toMatchObject({ runs: 10, cost: 100_000_000 });
        expect(Object.keys(a.parents)).toEqual([name]);
        expect(a.parents[name].children).toBe(10);
        expect(a.today.runs).toBe(10);
        expect(Object.entries(a.today.customers)).toEqual([[name, 100_000_000]]);
        expect(Object.entries(a.today.features)).toEqual([[name, 100_000_000]]);
      }
      const team = teams.teams.get('support')!;
      for (const name of HOSTILE) expect(team.month.customers[name]).toBe(100_000_000);
    });

    it('does not change what the other agents of the team see, even with ids named like the fields it writes', () => {
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
      const plain = new Detector(() => DEFAULT_SETTINGS);
      const expected = replay(plain, others).anomalies;
      const sut = new Detector(() => DEFAULT_SETTINGS);
      const anomalies = replay(sut, [...others, ...hostile].sort(byTime)).anomalies;

      expect(expected.some((a) => a.rule === 'cost_per_run_jump' && a.state === 'firing')).toBe(true);
      expect(anomalies.filter((a) => !HOSTILE.includes(a.agent_id!))).toEqual(
        expected.filter((a) => a.agent_id !== null),
      );
      for (const agentId of [...fleet.map((a) => a.agentId), 'billing-bot']) {
        const key = `support/${agentId}`;
        expect(sut.agents.get(key)).toEqual(plain.agents.get(key));
      }
      expect(sut.agents.get('support/billing-bot')!.sessions.last.runs).toBe(20);
    });
  });

  it('forgets an agent without a run for the whole history the rules read, with its sessions, and tells the changelog', () => {
    const sut = new Detector(() => DEFAULT_SETTINGS);
    replay(sut, [
      priced('support', START, { agent_id: 'quiet', session_id: 's1' }),
      priced('support', START + HOUR, { agent_id: 'busy' }),
    ]);
    const changed = new Set<LedgerKey>();
    sut.onRun(priced('support', START + 59 * DAY, { agent_id: 'busy' }), changed);
    sut.endBatch(changed);
    expect([...sut.agents.keys()].sort()).toEqual(['support/busy', 'support/quiet']);
    const later = new Set<LedgerKey>();
    sut.onRun(priced('support', START + 61 * DAY, { agent_id: 'busy' }), later);
    sut.endBatch(later);
    expect([...sut.agents.keys()]).toEqual(['support/busy']);
    expect(later).toContain(Detector.agentKey('support', 'quiet'));
    expect(later).toContain(Detector.sessionKey('support', 'quiet', 's1'));
    expect(sut.persisted(Detector.agentKey('support', 'quiet'))).toBeNull();
    expect(sut.persisted(Detector.sessionKey('support', 'quiet', 's1'))).toBeNull();
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

    it('is counted once by every rule and ledger', () => {
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
      const plain = new Detector(() => settings);
      const plainTeams = new TeamDetector(() => settings);
      const expected = replay(plain, history, 50, plainTeams);
      const retried = withRetries(history);
      const sut = new Detector(() => settings);
      const teams = new TeamDetector(() => settings);
      const result = replay(sut, retried, 50, teams);

      expect(new Set(expected.anomalies.map((a) => a.rule))).toEqual(
        new Set(['budget', 'cost_per_run_jump', 'session_outlier']),
      );
      expect(result.duplicates).toBe(retried.length - history.length);
      // Team budgets are judged once per slice of each partition, and the retries move the slices' boundaries: the
      // same conditions fire and end at the same severity (a slice may cross two thresholds at once, one escalation).
      const agents = (as: Anomaly[]) => as.filter((a) => a.agent_id !== null);
      const team = (as: Anomaly[]) => {
        const last = new Map<string, [string, string, number, number]>();
        for (const a of as.filter((a) => a.agent_id === null))
          last.set(a.dedupe_key, [a.state, a.severity, a.window_start, a.window_end]);
        return last;
      };
      expect(agents(result.anomalies)).toEqual(agents(expected.anomalies));
      expect(team(result.anomalies)).toEqual(team(expected.anomalies));
      expect(sut.agents).toEqual(plain.agents);
      const spent = (t: TeamDetector) => [...t.teams].map(([id, l]) => [id, l.day, l.month]);
      expect(spent(teams)).toEqual(spent(plainTeams));
      // the team and customer budgets too, summed by the team detector from what the agents' partitions spent
      expect(expected.anomalies.some((a) => a.rule === 'budget' && a.agent_id === null)).toBe(true);
    });

    it('is recognised within one batch and across batches', () => {
      const sut = new Detector(() => DEFAULT_SETTINGS);
      const run = priced('support', START);
      const first = new Set<LedgerKey>();
      expect(sut.onRun(run, first).duplicate).toBe(false);
      expect(sut.onRun({ ...run, priced_at: run.priced_at + 1 }, first).duplicate).toBe(true);
      sut.endBatch(first);
      const second = new Set<LedgerKey>();
      expect(sut.onRun(run, second)).toEqual({ anomalies: [], changed: second, duplicate: true });
      expect(second.size).toBe(0);
      expect(sut.agents.get('support/agent')!.today.runs).toBe(1);
    });

    it('counts the same run_id of another team: it is another run', () => {
      const sut = new Detector(() => DEFAULT_SETTINGS);
      const changed = new Set<LedgerKey>();
      expect(sut.onRun(priced('support', START, { run_id: 'r1' }), changed).duplicate).toBe(false);
      expect(sut.onRun(priced('billing', START, { run_id: 'r1' }), changed).duplicate).toBe(false);
      sut.endBatch(changed);
      expect(sut.agents.get('support/agent')!.today.runs).toBe(1);
      expect(sut.agents.get('billing/agent')!.today.runs).toBe(1);
      expect(sut.takeTeamSpend().map((s) => [s.team, s.entries.map((e) => e.nanos)])).toEqual([
        ['support', [10_000_000]],
        ['billing', [10_000_000]],
      ]);
    });

    it('is counted again once out of the window of stream time, and the forgotten run ids are deleted', () => {
      const sut = new Detector(() => DEFAULT_SETTINGS, { dedupeWindowMs: 15 * MINUTE, dedupeMaxIds: 1000 });
      const run = priced('support', START);
      const first = replay(sut, [run]);
      const changed = new Set<LedgerKey>();
      sut.onRun(priced('support', START + 16 * MINUTE), changed);
      sut.endBatch(changed);
      expect(sut.persisted(Detector.runIdsKey('support', run.run.run_id))).toBeNull();
      expect(changed).toContain(Detector.runIdsKey('support', run.run.run_id));
      expect(sut.rememberedIds).toBe(1);
      expect(first.duplicates + replay(sut, [run]).duplicates).toBe(0);
      expect(sut.agents.get('support/agent')!.today.runs).toBe(3);
    });

    it('is forgotten, oldest batches first, past the most run ids kept', () => {
      const sut = new Detector(() => DEFAULT_SETTINGS, { dedupeWindowMs: DAY, dedupeMaxIds: 4 });
      const runs = Array.from({ length: 6 }, (_, i) => priced('support', START + i * MINUTE));
      replay(sut, runs, 2);
      expect(sut.rememberedIds).toBe(4);
      expect(replay(sut, [runs[2], runs[5]]).duplicates).toBe(2);
      expect(replay(sut, [runs[0]]).duplicates).toBe(0);
    });
  });
});
