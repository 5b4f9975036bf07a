import { DEFAULT_SETTINGS } from '@libs/team-settings';
import type { Anomaly } from '../core/anomaly';
import {
  buildDataset,
  datasetRuns,
  describeReport,
  evaluate,
  INCIDENT_CLASSES,
  QUALITY_START,
  runQuality,
  type IncidentClass,
  type Labels,
  type QualityRun,
} from './quality';
import { generateRuns, type AgentProfile } from './synthetic';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Every class is caught at the default settings, within its horizon: prompt creep by the prompt_creep rule on input
 * tokens per run, the one-day 4× spike on a cheap agent (~$0.34 a day) because the z-score floor is at most 2% of its
 * team's daily spend.
 */
const CAUGHT: readonly IncidentClass[] = INCIDENT_CLASSES;

function record(over: Partial<Anomaly>): Anomaly {
  return {
    anomaly_id: 'a',
    dedupe_key: 'k',
    rule: 'spend_zscore',
    severity: 'warning',
    state: 'firing',
    team: 'support',
    agent_id: 'clean-00',
    window_start: 0,
    window_end: 0,
    observed: 0,
    threshold: 0,
    baseline_mean: null,
    baseline_stddev: null,
    zscore: null,
    currency: 'USD',
    cost_per_run_before_nanos: null,
    cost_per_run_now_nanos: null,
    top_customers: [],
    top_features: [],
    summary: '',
    started_at: 0,
    detected_at: 0,
    late: false,
    details: {},
    trigger_run_id: null,
    incident_id: 'inc',
    incident_action: 'open',
    incident_signals: 1,
    ...over,
  };
}

describe(evaluate.name, () => {
  const at = (day: number, hour = 0) => QUALITY_START + day * DAY + hour * HOUR;
  const labels: Labels = {
    start: QUALITY_START,
    days: 10,
    warmupDays: 2,
    agents: [
      { agentId: 'clean-00', team: 'support', group: 'clean', firstDay: 0 },
      { agentId: 'growth-00', team: 'support', group: 'growth', firstDay: 0 },
      { agentId: 'new-00', team: 'support', group: 'new', firstDay: 5 },
      { agentId: 'retry_loop-0', team: 'support', group: 'incident', firstDay: 0 },
      { agentId: 'spike-0', team: 'support', group: 'incident', firstDay: 0 },
    ],
    incidents: [
      { class: 'retry_loop', agentId: 'retry_loop-0', onset: at(6, 10), horizonMs: DAY },
      { class: 'spike', agentId: 'spike-0', onset: at(6), horizonMs: DAY },
    ],
  };

  it('detects with the first live firing of any rule at or after the onset, within the horizon', () => {
    const report = evaluate(
      [
        record({ agent_id: 'retry_loop-0', rule: 'run_rate_loop', detected_at: at(6, 12) }),
        record({ agent_id: 'retry_loop-0', rule: 'child_run_loop', detected_at: at(6, 11), late: true }),
        record({
          agent_id: 'retry_loop-0',
          rule: 'spend_zscore',
          detected_at: at(6, 11),
          incident_action: 'update',
        }),
        record({ agent_id: 'retry_loop-0', state: 'resolved', detected_at: at(6, 10.5) }),
        // beyond the spike's one-day horizon: a miss, its delay still reported
        record({ agent_id: 'spike-0', detected_at: at(7, 2) }),
      ],
      labels,
    );
    const retry = report.classes.retry_loop;
    expect(retry).toMatchObject({ instances: 1, detected: 1, recall: 1, delayP50S: 3600 });
    expect(retry.incidents[0]).toMatchObject({ detected: true, delayMs: HOUR, rule: 'spend_zscore' });
    expect(report.classes.spike).toMatchObject({ instances: 1, detected: 0, recall: 0, delayP50S: null });
    expect(report.classes.spike.incidents[0].delayMs).toBe(DAY + 2 * HOUR);
    expect(report.classes.model_swap.instances).toBe(0);
    expect(report.recall).toBe(0.5);
  });

  it('counts live incidents opened on clean agent-days after the warm-up, per 1,000 of them', () => {
    const report = evaluate(
      [
        record({ agent_id: 'clean-00', detected_at: at(1, 9) }), // warm-up
        record({ agent_id: 'clean-00', detected_at: at(3, 9) }),
        record({ agent_id: 'clean-00', detected_at: at(3, 10), incident_action: 'update' }),
        record({ agent_id: 'clean-00', detected_at: at(4, 9), late: true }),
        record({ agent_id: 'growth-00', detected_at: at(8), incident_action: null, incident_id: null }),
        record({ agent_id: 'growth-00', detected_at: at(8, 1), state: 'escalated', incident_action: null }),
        record({ agent_id: 'retry_loop-0', detected_at: at(6, 9) }), // the onset's day, before the onset
        record({ agent_id: 'retry_loop-0', detected_at: at(6, 10) }), // the onset: a detection, no false alarm
        record({ agent_id: null, rule: 'budget', detected_at: at(5) }),
      ],
      labels,
    );
    expect(report.falseAlarmsByGroup).toEqual({ clean: 1, growth: 1, new: 0, incident: 1 });
    expect(report.falseAlarms.map((f) => [f.agentId, f.day])).toEqual([
      ['clean-00', 3],
      ['growth-00', 8],
      ['retry_loop-0', 6],
    ]);
    // clean and growth days 2-9, the new agent's 5-9, the incident agents' 2-5
    expect(report.cleanAgentDaysByGroup).toEqual({ clean: 8, growth: 8, new: 5, incident: 8 });
    expect(report.cleanAgentDays).toBe(29);
    expect(report.falseAlarmsPer1000AgentDays).toBeCloseTo((3 / 29) * 1000, 9);
    expect(report.falseAlarmsByRule).toEqual({ spend_zscore: 3 });
    expect(report.teamRecords).toBe(1);
  });
});

describe(buildDataset.name, () => {
  it('labels every agent and incident, the same from the same seed', () => {
    const d = buildDataset();
    expect(buildDataset()).toEqual(d);
    expect(buildDataset({ seed: 20 }).labels.incidents).not.toEqual(d.labels.incidents);
    const { labels } = d;
    expect(labels.agents.map((a) => a.agentId)).toEqual(d.agents.map((a) => a.agentId));
    expect(new Set(labels.agents.map((a) => a.agentId)).size).toBe(40);
    for (const cls of INCIDENT_CLASSES) {
      const mine = labels.incidents.filter((l) => l.class === cls);
      expect(mine).toHaveLength(3);
      for (const l of mine) {
        expect(labels.agents.find((a) => a.agentId === l.agentId)?.group).toBe('incident');
        expect(d.incidents.find((i) => i.agentId === l.agentId)?.kind).toBe(cls);
        expect(l.onset).toBeGreaterThanOrEqual(labels.start + 21 * DAY);
        expect(l.onset + l.horizonMs).toBeLessThanOrEqual(labels.start + labels.days * DAY);
      }
    }
  });

  it('generates new agents from the day they appear, the 4× spike day and the growth', () => {
    const d = buildDataset({ cleanAgents: 0, perClass: 1 });
    const perDay = new Map<string, number[]>();
    for (const run of datasetRuns(d)) {
      const days = perDay.get(run.run.agent_id) ?? Array<number>(d.labels.days).fill(0);
      days[Math.floor((run.run.finished_at - d.labels.start) / DAY)]++;
      perDay.set(run.run.agent_id, days);
    }
    for (const a of d.labels.agents.filter((x) => x.group === 'new')) {
      const days = perDay.get(a.agentId)!;
      expect(days.findIndex((n) => n > 0)).toBe(a.firstDay);
    }
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    for (const l of d.labels.incidents.filter((x) => x.class === 'spike')) {
      const days = perDay.get(l.agentId)!;
      const onsetDay = (l.onset - d.labels.start) / DAY;
      // against the same weekday one and two weeks before (the weekend rhythm)
      expect(days[onsetDay]).toBeGreaterThan(2.5 * mean([days[onsetDay - 7], days[onsetDay - 14]]));
    }
    expect(d.agents.filter((a) => a.doublingDays === 42)).toHaveLength(3);
    // the growth itself, on one steady agent (one run a session, no weekend dip): ×2^(35/42) five weeks on
    const steady: AgentProfile = {
      ...d.agents[0],
      agentId: 'steady',
      runsPerDay: 400,
      sessionSize: 1,
      weekendFactor: 1,
      doublingDays: undefined,
    };
    const count = (agent: AgentProfile) => {
      const days = Array<number>(42).fill(0);
      for (const run of generateRuns({ start: d.labels.start, days: 42, agents: [agent], seed: 1 }))
        days[Math.floor((run.run.finished_at - d.labels.start) / DAY)]++;
      return mean(days.slice(35)) / mean(days.slice(0, 7));
    };
    expect(count({ ...steady, doublingDays: 42 })).toBeGreaterThan(1.5);
    expect(count({ ...steady, doublingDays: 42 })).toBeLessThan(2.2);
    expect(count(steady)).toBeLessThan(1.2);
  });
});

describe('the labelled quality suite through the chain (default settings)', () => {
  let q: QualityRun;
  beforeAll(() => {
    q = runQuality();
    console.log(`quality suite: ${q.runs} runs\n${describeReport(q.report).join('\n')}`);
  }, 120_000);

  it.each(CAUGHT)('catches every %s within its horizon (recall 1)', (cls) => {
    const c = q.report.classes[cls];
    expect(c.incidents.filter((i) => !i.detected)).toEqual([]);
    expect(c.instances).toBeGreaterThan(0);
    expect(c.recall).toBe(1);
  });

  it('raises no false alarm on the agents that appear mid-way with no history', () => {
    expect(q.report.cleanAgentDaysByGroup.new).toBeGreaterThan(0);
    expect(q.report.falseAlarms.filter((f) => f.group === 'new')).toEqual([]);
  });

  it('catches prompt creep (input tokens doubled, cost per run up ~27%) on input tokens, with no false alarm of it', () => {
    expect(q.report.classes.prompt_creep.incidents.map((i) => i.rule)).toContain('prompt_creep');
    expect(q.report.falseAlarms.filter((f) => f.rule === 'prompt_creep')).toEqual([]);
  });
  it('pages on spend_zscore alone among the clean agents: the weekly rhythm and steady growth are known', () => {
    expect(Object.keys(q.report.falseAlarmsByRule)).toEqual(['spend_zscore']);
    // before the baselines knew the week and the trend: 7 (5 of them on the three growth agents)
    expect(q.report.falseAlarms.length).toBeLessThanOrEqual(4);
  });
});

/**
 * The bar of issue #19, under 2 false alarms per 1,000 clean agent-days with every incident caught, is met with the
 * z threshold at 2.75. At the brief's 2.5 the suite has 4 (3.0 per 1,000): on daily noise close to normal, 2.5σ one-
 * sided is a 0.6% tail, 6 per 1,000 agent-days before the floors, and no estimate of σ changes that (docs/detection.md).
 */
describe('the labelled quality suite with the z threshold at 2.75', () => {
  let q: QualityRun;
  beforeAll(() => {
    q = runQuality({}, () => ({
      ...DEFAULT_SETTINGS,
      zscore: { ...DEFAULT_SETTINGS.zscore, threshold: 2.75 },
    }));
    console.log(`quality suite (z 2.75): ${describeReport(q.report).join('\n')}`);
  }, 120_000);

  it('catches every incident, and raises under 2 false alarms per 1,000 clean agent-days', () => {
    expect(q.report.recall).toBe(1);
    expect(q.report.cleanAgentDays).toBeGreaterThan(1000);
    expect(q.report.falseAlarmsPer1000AgentDays).toBeLessThan(2);
  });
});
