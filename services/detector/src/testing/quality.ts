/**
 * The labelled quality suite (issue #19 item 7): a synthetic, seeded history in which every agent-day is labelled
 * either clean or part of an incident of a known class with a known onset, replayed through the whole detection chain
 * (testing/chain.ts), and scored.
 *
 * The dataset (`buildDataset`, deterministic from its seed; 40 agents over 45 days by default, the first a Monday;
 * profiles from `agentFleet`, at most 200 runs a day — runs are the suite's cost):
 * - clean agents: their own volume, model and habits, a weekday/weekend rhythm and daily noise; every third is on
 *   claude-opus (dollars a day: under ~$1 a day the z-score rule's $1 floor keeps an agent from paging on spend at all,
 *   so a fleet of cheap agents would say little about false alarms);
 * - growth agents (labelled clean): the same, with volume doubling every six weeks, rhythm intact — growth must not page;
 * - new agents (labelled clean) that appear mid-way (days 20 and 30 for two), with no history at all;
 * - `perClass` incident agents per class, each clean until its onset (a day from 24, with three weeks of history
 *   behind it, to the last that leaves its horizon inside the history; any time of day but for the spike), then in
 *   incident until the end of the day its horizon ends, after which it sends nothing (nothing later is scored):
 *   - retry_loop: from onset, the second run of each session fails and is retried 40 times, 2 s apart, each retry
 *     re-sending the conversation so far;
 *   - model_swap: a claude-haiku agent switches to claude-opus (12× the price per token);
 *   - backfill_loop: a job with no customer_id sends a run with 16× the agent's context every minute;
 *   - prompt_creep: a gpt-4o agent whose input is 27% of its cost: input tokens grow in six daily steps of 2^(1/6)
 *     (doubled on the sixth day), so cost per run rises by only ~27%;
 *   - spike: a one-day 4× promotion on a cheap agent (claude-haiku, ~90 runs, ~$0.34 a weekday); the onset is the
 *     day's start (UTC midnight).
 *
 * Scoring (`evaluate`), from the anomaly records the chain emitted:
 * - a detection is the first live (non-late) firing record of any rule on the incident's agent at or after its onset;
 *   its delay is its detected_at minus the onset. It counts only when within the class's horizon after onset: one day
 *   for every class but prompt_creep, whose horizon is its last step plus three days (8 days: the creep needs days to
 *   show). Recall is detections over incidents, per class and overall; the delay p50 is over detections, in seconds.
 * - a false alarm is a live incident opened (`incident_action` 'open'; a firing record when a record carries no
 *   incident fields) about an agent on one of its clean agent-days: every day of clean, growth and new agents (from
 *   the day they appear), and the days before the onset's day of incident agents (an alarm on the onset day but before
 *   the onset counts too, its day not in the denominator), all after the warm-up. The warm-up is the first 7 days
 *   (`zscore.minHistoryDays` of the defaults: before it the spend rule, the one that pages on clean traffic, has no
 *   baseline; the days are neither clean nor incident). The rate is false alarms per 1,000 clean agent-days, with the growth agents' share
 *   shown apart. Team-level records (no agent, budgets only) are counted apart, never as a false alarm.
 */
import type { PricedRun } from '@libs/contracts';
import { DEFAULT_SETTINGS, type DetectorSettings } from '@libs/team-settings';
import type { Anomaly } from '../core/anomaly';
import { Chain } from './chain';
import { agentFleet, generateRuns, Random, type AgentProfile, type Incident } from './synthetic';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const INCIDENT_CLASSES = [
  'retry_loop',
  'model_swap',
  'backfill_loop',
  'prompt_creep',
  'spike',
] as const;
export type IncidentClass = (typeof INCIDENT_CLASSES)[number];

/** What an agent is in the labelled history: clean (growth and new agents are clean) or the agent of one incident. */
export type AgentGroup = 'clean' | 'growth' | 'new' | 'incident';

export interface LabelledAgent {
  agentId: string;
  team: string;
  group: AgentGroup;
  /** First day (index from `start`) the agent sends runs. */
  firstDay: number;
}

export interface LabelledIncident {
  class: IncidentClass;
  agentId: string;
  onset: number;
  /** A detection counts when the first live firing is at most this long after the onset. */
  horizonMs: number;
}

export interface Labels {
  /** First day, UTC midnight. */
  start: number;
  days: number;
  /** Days at the start that are neither clean nor incident days. */
  warmupDays: number;
  agents: LabelledAgent[];
  incidents: LabelledIncident[];
}

export interface QualityDataset {
  seed: number;
  agents: AgentProfile[];
  incidents: Incident[];
  labels: Labels;
}

export interface QualityOptions {
  seed: number;
  days: number;
  cleanAgents: number;
  growthAgents: number;
  newAgents: number;
  /** Incident agents per class. */
  perClass: number;
  warmupDays: number;
}

export const DEFAULT_QUALITY_OPTIONS: QualityOptions = {
  seed: 19,
  days: 45,
  cleanAgents: 20,
  growthAgents: 3,
  newAgents: 2,
  perClass: 3,
  warmupDays: DEFAULT_SETTINGS.zscore.minHistoryDays,
};

/** A Monday, UTC midnight. */
export const QUALITY_START = Date.UTC(2026, 1, 2);
/** Onsets fall on or after this day, with three weeks of history (what the drift rule needs) behind them. */
const FIRST_ONSET_DAY = 24;
/** The fleet's busiest agents are capped (runs are the suite's cost; the rules see the same shapes at 200 a day). */
const MAX_RUNS_PER_DAY = 200;
const CREEP_STEPS = 6;
const CREEP_STEP_DAYS = 1;

function horizonOf(cls: IncidentClass): number {
  return cls === 'prompt_creep' ? ((CREEP_STEPS - 1) * CREEP_STEP_DAYS + 3) * DAY : DAY;
}

/** The labelled history: profiles, the incidents for the generator, and the labels to score against. */
export function buildDataset(options: Partial<QualityOptions> = {}): QualityDataset {
  const o = { ...DEFAULT_QUALITY_OPTIONS, ...options };
  const total = o.cleanAgents + o.growthAgents + o.newAgents + o.perClass * INCIDENT_CLASSES.length;
  const fleet = agentFleet(total, o.seed);
  const r = new Random(o.seed + 1);
  const agents: AgentProfile[] = [];
  const labelled: LabelledAgent[] = [];
  const incidents: Incident[] = [];
  const labels: LabelledIncident[] = [];
  let next = 0;
  const add = (group: AgentGroup, name: string, over: Partial<AgentProfile> = {}, firstDay = 0) => {
    const base = fleet[next++];
    const agent: AgentProfile = {
      ...base,
      agentId: name,
      runsPerDay: Math.min(MAX_RUNS_PER_DAY, base.runsPerDay),
      ...over,
    };
    agents.push(agent);
    labelled.push({ agentId: name, team: agent.team, group, firstDay });
    return agent;
  };
  const pad = (i: number) => String(i).padStart(2, '0');

  // every third clean agent on claude-opus: dollars a day, where the spend rules judge (under ~$1 a day the $1 floor
  // of the z-score rule keeps an agent from ever paging on spend)
  const spread = (i: number): Partial<AgentProfile> => (i % 3 === 2 ? { model: 'claude-opus' } : {});
  for (let i = 0; i < o.cleanAgents; i++) add('clean', `clean-${pad(i)}`, spread(i));
  for (let i = 0; i < o.growthAgents; i++)
    add('growth', `growth-${pad(i)}`, { doublingDays: 42, ...spread(i + 2) });
  for (let i = 0; i < o.newAgents; i++) {
    const firstDay = Math.min(o.days - 7, 20 + 10 * i);
    add('new', `new-${pad(i)}`, { activeFrom: QUALITY_START + firstDay * DAY, ...spread(i + 1) }, firstDay);
  }
  for (const cls of INCIDENT_CLASSES) {
    const horizon = horizonOf(cls);
    const lastOnsetDay = o.days - 1 - Math.ceil(horizon / DAY);
    for (let i = 0; i < o.perClass; i++) {
      const onsetDay = FIRST_ONSET_DAY + Math.floor(r.next() * (lastOnsetDay - FIRST_ONSET_DAY + 1));
      const hour = cls === 'spike' ? 0 : Math.floor(r.next() * 24 * 60) * 60_000;
      const onset = QUALITY_START + onsetDay * DAY + hour;
      const agentId = `${cls}-${i}`;
      switch (cls) {
        case 'retry_loop':
          add('incident', agentId, { sessionSize: Math.max(3, fleet[next].sessionSize) });
          incidents.push({ kind: cls, agentId, onset, retriesPerSession: 40, retryEveryMs: 2_000 });
          break;
        case 'model_swap':
          add('incident', agentId, { model: 'claude-haiku' });
          incidents.push({ kind: cls, agentId, onset, to: 'claude-opus' });
          break;
        case 'backfill_loop':
          add('incident', agentId);
          incidents.push({ kind: cls, agentId, onset, everyMs: 60_000, contextFactor: 16 });
          break;
        case 'prompt_creep':
          // gpt-4o: 1,000 input tokens at 2,500 nano-units and 675 output at 10,000: input is 27% of the cost
          add('incident', agentId, { model: 'gpt-4o', inputTokens: 1_000, outputTokens: 675 });
          incidents.push({
            kind: cls,
            agentId,
            onset,
            stepEveryDays: CREEP_STEP_DAYS,
            stepFactor: 2 ** (1 / CREEP_STEPS),
            steps: CREEP_STEPS,
          });
          break;
        case 'spike':
          // claude-haiku at 1,500 + 300 tokens: $0.00375 a run, ~90 runs: ~$0.34 a weekday
          add('incident', agentId, {
            model: 'claude-haiku',
            inputTokens: 1_500,
            outputTokens: 300,
            runsPerDay: 90,
          });
          incidents.push({ kind: cls, agentId, onset, days: 1, factor: 4 });
          break;
      }
      labels.push({ class: cls, agentId, onset, horizonMs: horizon });
    }
  }
  return {
    seed: o.seed,
    agents,
    incidents,
    labels: {
      start: QUALITY_START,
      days: o.days,
      warmupDays: o.warmupDays,
      agents: labelled,
      incidents: labels,
    },
  };
}

/**
 * The dataset's priced runs in event-time order. An incident agent stops at the end of the day its horizon ends:
 * nothing after it is scored, and a loop left running for weeks would be most of the runs.
 */
export function* datasetRuns(d: QualityDataset): Generator<PricedRun> {
  const ends = new Map(
    d.labels.incidents.map((l) => {
      const end = l.onset + l.horizonMs;
      return [l.agentId, end - ((end - d.labels.start) % DAY) + DAY];
    }),
  );
  const runs = generateRuns({
    start: d.labels.start,
    days: d.labels.days,
    agents: d.agents,
    incidents: d.incidents,
    seed: d.seed + 2,
  });
  for (const run of runs) {
    const end = ends.get(run.run.agent_id);
    if (end === undefined || run.run.finished_at < end) yield run;
  }
}

export interface IncidentResult extends LabelledIncident {
  detected: boolean;
  /** First live firing at or after the onset, minus the onset, whether within the horizon or not; null if none. */
  delayMs: number | null;
  /** The rule of that firing. */
  rule: string | null;
}

export interface ClassResult {
  instances: number;
  detected: number;
  recall: number;
  /** p50 of the detections' delays (nearest rank), seconds; null when nothing was detected. */
  delayP50S: number | null;
  incidents: IncidentResult[];
}

export interface FalseAlarm {
  agentId: string;
  group: AgentGroup;
  rule: string;
  day: number;
  detectedAt: number;
}

export interface QualityReport {
  classes: Record<IncidentClass, ClassResult>;
  /** Detections over incidents, all classes. */
  recall: number;
  cleanAgentDays: number;
  /** Clean agent-days by group (incident: before the onset). */
  cleanAgentDaysByGroup: Record<AgentGroup, number>;
  falseAlarms: FalseAlarm[];
  falseAlarmsByGroup: Record<AgentGroup, number>;
  falseAlarmsByRule: Record<string, number>;
  falseAlarmsPer1000AgentDays: number;
  /** Live records with no agent (team budgets), which are neither detections nor false alarms. */
  teamRecords: number;
}

/** Nearest-rank percentile. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const opened = (a: Anomaly) =>
  a.incident_action === null || a.incident_action === undefined
    ? a.state === 'firing'
    : a.incident_action === 'open';

/** Scores the chain's anomaly records against the labels (see the header for every choice made). */
export function evaluate(anomalies: readonly Anomaly[], labels: Labels): QualityReport {
  const dayOf = (t: number) => Math.floor((t - labels.start) / DAY);
  const live = anomalies.filter((a) => !a.late);
  const byAgent = new Map<string, Anomaly[]>();
  let teamRecords = 0;
  for (const a of live) {
    if (a.agent_id === null) {
      teamRecords++;
      continue;
    }
    const list = byAgent.get(a.agent_id) ?? [];
    list.push(a);
    byAgent.set(a.agent_id, list);
  }

  const classes = {} as Record<IncidentClass, ClassResult>;
  for (const cls of INCIDENT_CLASSES) classes[cls] = emptyClass();
  let detections = 0;
  for (const label of labels.incidents) {
    let first: Anomaly | null = null;
    for (const a of byAgent.get(label.agentId) ?? [])
      if (
        a.state === 'firing' &&
        a.detected_at >= label.onset &&
        (!first || a.detected_at < first.detected_at)
      )
        first = a;
    const delayMs = first ? first.detected_at - label.onset : null;
    const detected = delayMs !== null && delayMs <= label.horizonMs;
    const c = classes[label.class];
    c.instances++;
    if (detected) {
      c.detected++;
      detections++;
    }
    c.incidents.push({ ...label, detected, delayMs, rule: first?.rule ?? null });
  }
  for (const cls of INCIDENT_CLASSES) {
    const c = classes[cls];
    c.recall = c.instances ? c.detected / c.instances : 0;
    const delays = c.incidents.filter((i) => i.detected).map((i) => i.delayMs! / 1000);
    c.delayP50S = percentile(delays, 50);
  }

  const onsets = new Map(labels.incidents.map((l) => [l.agentId, l.onset]));
  const groups: AgentGroup[] = ['clean', 'growth', 'new', 'incident'];
  const daysByGroup = Object.fromEntries(groups.map((g) => [g, 0])) as Record<AgentGroup, number>;
  const alarmsByGroup = Object.fromEntries(groups.map((g) => [g, 0])) as Record<AgentGroup, number>;
  const byRule: Record<string, number> = {};
  const falseAlarms: FalseAlarm[] = [];
  for (const agent of labels.agents) {
    const from = Math.max(labels.warmupDays, agent.firstDay);
    const onset = onsets.get(agent.agentId);
    const to = onset === undefined ? labels.days : Math.min(labels.days, dayOf(onset));
    daysByGroup[agent.group] += Math.max(0, to - from);
    for (const a of byAgent.get(agent.agentId) ?? []) {
      const day = dayOf(a.detected_at);
      if (!opened(a) || day < from || (onset !== undefined && a.detected_at >= onset)) continue;
      falseAlarms.push({
        agentId: agent.agentId,
        group: agent.group,
        rule: a.rule,
        day,
        detectedAt: a.detected_at,
      });
      alarmsByGroup[agent.group]++;
      byRule[a.rule] = (byRule[a.rule] ?? 0) + 1;
    }
  }
  const cleanAgentDays = groups.reduce((s, g) => s + daysByGroup[g], 0);
  return {
    classes,
    recall: labels.incidents.length ? detections / labels.incidents.length : 0,
    cleanAgentDays,
    cleanAgentDaysByGroup: daysByGroup,
    falseAlarms,
    falseAlarmsByGroup: alarmsByGroup,
    falseAlarmsByRule: byRule,
    falseAlarmsPer1000AgentDays: cleanAgentDays ? (falseAlarms.length / cleanAgentDays) * 1000 : 0,
    teamRecords,
  };
}

function emptyClass(): ClassResult {
  return { instances: 0, detected: 0, recall: 0, delayP50S: null, incidents: [] };
}

export interface QualityRun {
  dataset: QualityDataset;
  report: QualityReport;
  anomalies: Anomaly[];
  runs: number;
}

/** Builds the dataset, replays it through the chain (slices of `sliceSize` runs) and scores it. */
export function runQuality(
  options: Partial<QualityOptions> = {},
  settingsOf: (team: string) => DetectorSettings = () => DEFAULT_SETTINGS,
  sliceSize = 50,
): QualityRun {
  const dataset = buildDataset(options);
  let runs = 0;
  function* counted(): Generator<PricedRun> {
    for (const run of datasetRuns(dataset)) {
      runs++;
      yield run;
    }
  }
  const { anomalies } = new Chain(settingsOf).process(counted(), sliceSize);
  return { dataset, report: evaluate(anomalies, dataset.labels), anomalies, runs };
}

/** The report in a few lines, for the bench and the spec's log. */
export function describeReport(report: QualityReport): string[] {
  const lines = INCIDENT_CLASSES.map((cls) => {
    const c = report.classes[cls];
    const misses = c.incidents
      .filter((i) => !i.detected)
      .map((i) =>
        i.delayMs === null ? `${i.agentId}: nothing` : `${i.agentId}: ${i.rule} after ${fmtDelay(i.delayMs)}`,
      );
    const firsts = c.incidents.filter((i) => i.detected).map((i) => `${i.rule} ${fmtDelay(i.delayMs!)}`);
    return (
      `${cls}: recall ${c.detected}/${c.instances}, delay p50 ${c.delayP50S === null ? '-' : `${Math.round(c.delayP50S)} s`}` +
      (firsts.length ? ` (${firsts.join(', ')})` : '') +
      (misses.length
        ? `; missed (beyond the ${fmtDelay(c.incidents[0].horizonMs)} horizon): ${misses.join(', ')}`
        : '')
    );
  });
  const g = report.falseAlarmsByGroup;
  const d = report.cleanAgentDaysByGroup;
  lines.push(
    `false alarms: ${report.falseAlarms.length} over ${report.cleanAgentDays} clean agent-days = ` +
      `${report.falseAlarmsPer1000AgentDays.toFixed(2)} per 1,000 (clean ${g.clean}/${d.clean} days, growth ` +
      `${g.growth}/${d.growth}, new ${g.new}/${d.new}, incident agents before onset ${g.incident}/${d.incident}) ` +
      JSON.stringify(report.falseAlarmsByRule),
  );
  return lines;
}

function fmtDelay(ms: number): string {
  if (ms < HOUR) return `${Math.round(ms / 1000)} s`;
  if (ms < DAY) return `${(ms / HOUR).toFixed(1)} h`;
  return `${(ms / DAY).toFixed(1)} d`;
}
