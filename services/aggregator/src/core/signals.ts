import type { AgentSignals, NamedSpend, PricedRun } from '@libs/contracts';
import { monthWindow } from '@libs/team-settings';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Most priced costs kept for the recent cost per run (a team's costPerRun.recentRuns is read up to this). */
export const RECENT_MAX = 50;
/** Days back the drift reference is taken from (its oldest `referenceDays` days). */
export const DRIFT_LOOKBACK_DAYS = 35;
/**
 * The prompt-creep reference: the median of daily input tokens per run over the days [today - fromDays, today -
 * untilDays), from at least `minDays` of them with runs: weeks before the level it is compared with, and far enough
 * back that a creep under three weeks old is in fewer than half of them (the median still sees the level before it).
 */
export const CREEP_REFERENCE = { fromDays: 35, untilDays: 21, minDays: 5 } as const;
const MAX_OPEN_PARENTS = 5000;
const PARENT_IDLE_MS = HOUR;
const NORM_HORIZON = 240;
const MAX_DIMENSION_KEYS = 500;
const NONE = '(none)';
const OTHER = '(other)';

/** The rule parameters the aggregator needs to keep the signals (a team's detector settings). */
export interface SignalSettings {
  /** costPerRun.recentRuns: the latest priced runs the recent cost per run averages. */
  recentRuns: number;
  /** costPerRunDrift.referenceDays: the oldest days of the lookback the drift reference averages. */
  referenceDays: number;
}

interface Norm {
  mean: number;
  n: number;
}

const ewma = (norm: Norm, x: number): Norm => {
  const n = Math.min(norm.n + 1, NORM_HORIZON);
  return { mean: norm.mean + (x - norm.mean) / n, n };
};

function bump(map: Map<string, number>, key: string, by: number): void {
  const v = map.get(key);
  if (v !== undefined) map.set(key, v + by);
  else if (map.size < MAX_DIMENSION_KEYS) map.set(key, by);
  else map.set(OTHER, (map.get(OTHER) ?? 0) + by);
}

function top(map: Map<string, number> | undefined, n = 5): NamedSpend[] {
  if (!map) return [];
  return [...map]
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([name, spend_nanos]) => ({ name, spend_nanos }));
}

/** The JSON form (in the agent's changelog record and cold store): short keys, absent when empty. */
export interface SignalsJson {
  /** month: [start, end, spend] */
  m?: [number, number, number];
  /** recent priced costs, oldest first */
  r?: number[];
  /** minute: [start, runs, norm mean, norm n] */
  mi?: [number, number, number, number];
  /** open parents: [parent run id, children, last] */
  p?: [string, number, number][];
  /** child norm: [mean, n] */
  cn?: [number, number];
  /** today's dimensions: [day start, customers, features, unpriced models] */
  t?: [number, [string, number][], [string, number][], [string, number][]];
  /** days that left the day ring, [start, spend, runs] each, oldest first */
  d?: number[];
  /** their input tokens, one a day of `d` (absent in records written before they were kept) */
  di?: number[];
}

/**
 * The per-agent facts the detector's rules read beyond day buckets and baselines: month spend, the recent cost per
 * run, runs per minute and its norm, child runs per parent and its norm, today's customers, features and unpriced
 * models, and the older days the drift reference needs. Updated by each live run in arrival order (as the detector
 * used to keep them); a run in an already finished day adds only to the month it falls in.
 */
export class Signals {
  month: { start: number; end: number; spend: number } | undefined;
  recent: number[] = [];
  minute = { start: 0, runs: 0 };
  minuteNorm: Norm = { mean: 0, n: 0 };
  parents: Map<string, { children: number; last: number }> | undefined;
  childNorm: Norm = { mean: 0, n: 0 };
  today:
    | {
        start: number;
        customers: Map<string, number>;
        features: Map<string, number>;
        unpriced: Map<string, number>;
      }
    | undefined;
  /** [start, spend, runs] of days that left the day ring, oldest first, within the drift lookback. */
  past: number[] = [];
  /** The input tokens of each day in `past` (one number a day; -1 for a day kept before they were). */
  pastInput: number[] = [];
  // what the runs since the last snapshot touched (not persisted: a snapshot follows every slice)
  private lastRunAt = 0;
  private lastRunId: string | null = null;
  private touchedMinutes: Map<number, number> | undefined;
  private touchedParents: Set<string> | undefined;
  private touchedUnpriced: Set<string> | undefined;

  static fromJSON(j: SignalsJson | undefined): Signals {
    const s = new Signals();
    if (!j) return s;
    if (j.m) s.month = { start: j.m[0], end: j.m[1], spend: j.m[2] };
    if (j.r) s.recent = [...j.r];
    if (j.mi) {
      s.minute = { start: j.mi[0], runs: j.mi[1] };
      s.minuteNorm = { mean: j.mi[2], n: j.mi[3] };
    }
    if (j.p?.length) s.parents = new Map(j.p.map(([id, children, last]) => [id, { children, last }]));
    if (j.cn) s.childNorm = { mean: j.cn[0], n: j.cn[1] };
    if (j.t)
      s.today = {
        start: j.t[0],
        customers: new Map(j.t[1]),
        features: new Map(j.t[2]),
        unpriced: new Map(j.t[3]),
      };
    if (j.d) {
      s.past = [...j.d];
      const days = Math.floor(j.d.length / 3);
      // a record of a version that kept no input tokens (or dropped them): those days' are unknown
      s.pastInput = j.di?.length === days ? [...j.di] : Array<number>(days).fill(-1);
    }
    return s;
  }

  toJSON(): SignalsJson {
    return {
      ...(this.month && { m: [this.month.start, this.month.end, this.month.spend] }),
      ...(this.recent.length && { r: this.recent.slice(-RECENT_MAX) }),
      ...(this.minute.start > 0 && {
        mi: [this.minute.start, this.minute.runs, this.minuteNorm.mean, this.minuteNorm.n],
      }),
      ...(this.parents?.size && { p: [...this.parents].map(([id, v]) => [id, v.children, v.last]) }),
      ...(this.childNorm.n > 0 && { cn: [this.childNorm.mean, this.childNorm.n] }),
      ...(this.today && {
        t: [this.today.start, [...this.today.customers], [...this.today.features], [...this.today.unpriced]],
      }),
      ...(this.past.length && { d: this.past, di: this.pastInput }),
    } as SignalsJson;
  }

  /**
   * A day leaves the day ring: kept as [start, spend, runs] and its input tokens while within the drift lookback (and
   * the creep reference's) of `now`.
   */
  keepPastDay(start: number, spend: number, runs: number, input: number, now: number): void {
    this.past.push(start, spend, runs);
    this.pastInput.push(input);
    const from = now - (Math.max(DRIFT_LOOKBACK_DAYS, CREEP_REFERENCE.fromDays) + 2) * DAY;
    let drop = 0;
    while (drop < this.past.length && this.past[drop] < from) drop += 3;
    if (drop) {
      this.past.splice(0, drop);
      this.pastInput.splice(0, drop / 3);
    }
  }

  /**
   * One run: `live` when it is in the agent's current day or later (a run in a finished day changes only its month's
   * spend), `dayStart` the start of its day in the agent's time zone.
   */
  apply(p: PricedRun, cost: number, live: boolean, dayStart: number, tz: string): void {
    const run = p.run;
    const at = run.finished_at;
    if (!live) {
      if (this.month && at >= this.month.start && at < this.month.end) this.month.spend += cost;
      return;
    }
    if (!this.month || at >= this.month.end) this.month = { ...monthWindow(at, tz), spend: 0 };
    if (at >= this.month.start) this.month.spend += cost;
    if (at >= this.lastRunAt) [this.lastRunAt, this.lastRunId] = [at, run.run_id];
    const priced = p.price_status === 'priced';
    if (priced) {
      this.recent.push(cost);
      // trimmed in steps, not one shift a run (the snapshot reads the last `recentRuns` ≤ RECENT_MAX of them)
      if (this.recent.length >= 2 * RECENT_MAX) this.recent.splice(0, this.recent.length - RECENT_MAX);
    }
    if (!this.today || dayStart > this.today.start)
      this.today = { start: dayStart, customers: new Map(), features: new Map(), unpriced: new Map() };
    if (dayStart === this.today.start) {
      bump(this.today.customers, run.customer_id ?? NONE, cost);
      bump(this.today.features, run.feature ?? NONE, cost);
      if (!priced) {
        const model = JSON.stringify([p.provider, run.model]);
        bump(this.today.unpriced, model, 1);
        (this.touchedUnpriced ??= new Set()).add(model);
      }
    }
    const minute = Math.floor(at / MINUTE) * MINUTE;
    if (minute > this.minute.start) {
      if (this.minute.runs > 0) this.minuteNorm = ewma(this.minuteNorm, this.minute.runs);
      this.minute = { start: minute, runs: 0 };
      this.sweepParents(at);
    }
    if (minute === this.minute.start) {
      this.minute.runs++;
      (this.touchedMinutes ??= new Map()).set(minute, this.minute.runs);
    }
    if (run.parent_run_id) {
      this.parents ??= new Map();
      let parent = this.parents.get(run.parent_run_id);
      if (!parent) this.parents.set(run.parent_run_id, (parent = { children: 0, last: at }));
      parent.children++;
      parent.last = Math.max(parent.last, at);
      (this.touchedParents ??= new Set()).add(run.parent_run_id);
    }
  }

  /** Parents without a child for an hour are done: their child count joins the norm. */
  private sweepParents(at: number): void {
    if (!this.parents) return;
    for (const [id, parent] of this.parents) {
      if (at - parent.last < PARENT_IDLE_MS && this.parents.size <= MAX_OPEN_PARENTS) continue;
      this.parents.delete(id);
      this.childNorm = ewma(this.childNorm, parent.children);
    }
    if (this.parents.size === 0) this.parents = undefined;
  }

  /**
   * The signals part of the agent's next stats record (what the day ring gives is laid in by the caller), and the
   * start of a new update.
   */
  snapshot(
    s: SignalSettings,
    clock: number,
  ): Pick<
    AgentSignals,
    | 'last_run_at'
    | 'last_run_id'
    | 'month'
    | 'recent_cost_per_run'
    | 'minutes'
    | 'minute_norm'
    | 'parents'
    | 'child_norm'
    | 'top_customers'
    | 'top_features'
    | 'unpriced_models'
  > {
    const recent = this.recent.slice(-Math.max(1, Math.min(RECENT_MAX, s.recentRuns)));
    const out = {
      last_run_at: this.lastRunAt || clock,
      last_run_id: this.lastRunId,
      month: this.month
        ? { start: this.month.start, end: this.month.end, spend_nanos: this.month.spend }
        : { start: 0, end: 0, spend_nanos: 0 },
      recent_cost_per_run: recent.length
        ? { nanos: recent.reduce((a, b) => a + b, 0) / recent.length, runs: recent.length }
        : null,
      minutes: [...(this.touchedMinutes ?? [])]
        .sort((a, b) => a[0] - b[0])
        .map(([start, runs]) => ({ start, runs })),
      minute_norm: this.minuteNorm.n >= 30 ? this.minuteNorm.mean : null,
      parents: [...(this.touchedParents ?? [])].map((id) => ({
        parent_run_id: id,
        children: this.parents?.get(id)?.children ?? 0,
      })),
      child_norm: this.childNorm.n >= 20 ? this.childNorm.mean : null,
      top_customers: top(this.today?.customers),
      top_features: top(this.today?.features),
      unpriced_models: [...(this.touchedUnpriced ?? [])].map((key) => {
        const [provider, model] = JSON.parse(key) as [string, string];
        return { provider, model, runs_today: this.today?.unpriced.get(key) ?? 0 };
      }),
    };
    this.lastRunAt = 0;
    this.lastRunId = null;
    this.touchedMinutes = undefined;
    this.touchedParents = undefined;
    this.touchedUnpriced = undefined;
    return out;
  }
}
