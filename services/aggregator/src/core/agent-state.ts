import {
  isSuccessfulRun,
  type AgentBaseline,
  type AgentSignals,
  type AgentStats,
  type PricedRun,
  type SessionTotals,
} from '@libs/contracts';
import { expectedDay, median, moments } from '@libs/stats';
import {
  dayWindow,
  isWeekendDay,
  type DetectorSettings,
  type GuardRule,
  type Window,
} from '@libs/team-settings';
import { GuardWindows, MatchingRules, type GuardWindowJson } from './guard-windows';
import { BucketRing, F, WIDTH, type RunFigures } from './buckets';
import {
  CREEP_REFERENCE,
  DRIFT_LOOKBACK_DAYS,
  Signals,
  type SignalSettings,
  type SignalsJson,
} from './signals';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Days of history the detector's rules look at, at most (its ledger kept 60). */
const HISTORY_DAYS = 60;
const CLOSED_SESSIONS_KEPT = 200;
const MAX_OPEN_SESSIONS = 2000;
const MAX_TREE_RUNS = 20_000;
const CHANGED_SESSIONS_EMITTED = 50;

export const hourWindow = (t: number): Window => {
  const start = Math.floor(t / HOUR) * HOUR;
  return { start, end: start + HOUR };
};

/** What the aggregator needs to know about a team; from team_settings, defaults otherwise. */
export interface AggregationSettings extends SignalSettings {
  timezone: string;
  qualityThreshold: number;
  /** Complete days in the baseline (at most the ring's length minus today). */
  baselineDays: number;
  /** A session closes after this much stream time without a run (plus the grace period, so no on-time run reopens it). */
  sessionIdleMs: number;
  /** The team's late-data grace (the aggregator applies at most its own GRACE_MS). */
  lateAfterMs: number;
  /** The team's guard rules (each agent keeps windows for those whose match.agent takes it). */
  guard?: readonly GuardRule[];
}

/**
 * A team's aggregation settings from its detector settings (the one source of both). `guard` false keeps no guard
 * windows (a backtest: guard rules take no part in it).
 */
export function aggregationSettings(
  s: DetectorSettings,
  maxBaselineDays = Infinity,
  guard = true,
): AggregationSettings {
  return {
    timezone: s.timezone,
    qualityThreshold: s.qualityThreshold,
    lateAfterMs: s.lateAfterMs,
    baselineDays: Math.min(s.zscore.baselineDays, maxBaselineDays),
    sessionIdleMs: s.session.idleCloseMs,
    recentRuns: s.costPerRun.recentRuns,
    referenceDays: s.costPerRunDrift.referenceDays,
    guard: guard ? s.guard.rules : undefined,
  };
}

export interface Session {
  start: number;
  last: number;
  cost: number;
  runs: number;
  /** False while the session has no record on the changelog yet (opened since the agent's last records). */
  logged?: boolean;
}

/** An open session in the changelog: [start, last, cost, runs]. */
export type SessionTuple = [number, number, number, number];

/**
 * The JSON form of an agent's state (a few hundred bytes for a quiet agent). In the cold store it has the open
 * sessions; on the changelog it has not: each open session is a record of its own there (see `changelogOf`).
 */
export interface AgentStateJson {
  v: 1;
  team: string;
  agentId: string;
  currency: string;
  tz: string;
  firstDay: number;
  /** The partition's last sweep this agent was in memory for (absent before it was kept: 0). */
  swept?: number;
  clock: number;
  days: number[];
  hours: number[];
  sessions?: [string, number, number, number, number][];
  closed?: number[];
  roots?: [string, string][];
  /** Cold store only: sessions changed or closed since the agent's last changelog records, written with its next. */
  unwritten?: string[];
  /** The rule signals (absent before the aggregator kept them). */
  g?: SignalsJson;
  /** The guard windows, by rule id (absent without any). */
  gw?: Record<string, GuardWindowJson>;
}

/**
 * One agent's windows: a ring of daily buckets (today and the baseline days), a ring of hourly buckets covering the
 * grace period, its open sessions and the costs of its most recent closed ones. Framework-free and deterministic:
 * the same runs give the same state in any order within the grace period.
 */
export class AgentState {
  readonly days: BucketRing;
  readonly hours: BucketRing;
  firstDay = Infinity;
  /** The last hourly sweep of the partition that found this agent in memory (see PartitionState's revive). */
  sweptAt = 0;
  /** The latest finished_at of this agent's runs. */
  clock = 0;
  sessions: Map<string, Session> | undefined;
  closed: number[] | undefined;
  /** run_id -> session key, for runs without session_id whose children may still come (parent_run_id trees). */
  roots: Map<string, string> | undefined;
  /** Sessions changed or closed since the last emit. */
  private touched: Set<string> | undefined;
  /** Sessions opened, changed or closed since the agent's last changelog records. */
  private unwritten: Set<string> | undefined;
  /** At most the oldest `last` of the open sessions: nothing is idle before it, so most runs close nothing, fast. */
  private sessionsIdleFrom = -Infinity;
  /** The day of the latest run, kept: a day's window is worked out once, not for each of its runs. */
  private lastDay: Window & { tz: string } = { start: 0, end: 0, tz: '' };
  private yesterday: (Window & { tz: string }) | undefined;
  private closedNow: SessionTotals[] | undefined;
  /** What the detector's rules read beyond the buckets: month, recent costs, minutes, parents, today's dimensions. */
  signals = new Signals();
  /** The start of the newest day bucket (the agent's current day), -Infinity before its first run. */
  private newestDay = -Infinity;
  /** The guard windows of the team's guard rules matching this agent (none kept without such rules). */
  guard: GuardWindows | undefined;
  private guardRules: MatchingRules | undefined;

  constructor(
    readonly team: string,
    readonly agentId: string,
    public currency: string,
    public tz: string,
    daySlots: number,
    hourSlots: number,
  ) {
    const buffer = new Float64Array((daySlots + hourSlots) * WIDTH);
    this.days = new BucketRing(daySlots, buffer.subarray(0, daySlots * WIDTH));
    this.hours = new BucketRing(hourSlots, buffer.subarray(daySlots * WIDTH));
  }

  static fromJSON(j: AgentStateJson, daySlots: number, hourSlots: number): AgentState {
    const a = new AgentState(j.team, j.agentId, j.currency, j.tz, daySlots, hourSlots);
    a.days.data.set(j.days.slice(0, daySlots * WIDTH));
    a.hours.data.set(j.hours.slice(0, hourSlots * WIDTH));
    a.firstDay = j.firstDay ?? Infinity;
    a.sweptAt = j.swept ?? 0;
    a.clock = j.clock;
    if (j.sessions?.length)
      a.sessions = new Map(
        j.sessions.map(([k, start, last, cost, runs]) => [k, { start, last, cost, runs }]),
      );
    if (j.closed?.length) a.closed = [...j.closed];
    if (j.roots?.length) a.roots = new Map(j.roots);
    if (j.unwritten?.length) a.unwritten = new Set(j.unwritten);
    a.signals = Signals.fromJSON(j.g);
    a.newestDay = a.days.newestStart();
    if (j.gw) a.guard = GuardWindows.fromJSON(j.gw);
    return a;
  }

  /** The end of the newest day bucket of an agent in its changelog form (what `days.newestEnd()` gives once loaded). */
  static newestEndOf(j: AgentStateJson): number {
    let end = 0;
    for (let i = F.end; i < j.days.length; i += WIDTH) end = Math.max(end, j.days[i]);
    return end;
  }

  /** With its open sessions (the cold store's form; JSON.stringify calls it). */
  toJSON(): AgentStateJson {
    return {
      ...this.coreJSON(),
      ...(this.sessions?.size && {
        sessions: [...this.sessions].map(([k, s]) => [k, s.start, s.last, s.cost, s.runs]),
      }),
      ...(this.unwritten?.size && { unwritten: [...this.unwritten] }),
    };
  }

  /** Without its open sessions (the changelog's form of the agent record). */
  private coreJSON(): AgentStateJson {
    return {
      v: 1,
      team: this.team,
      agentId: this.agentId,
      currency: this.currency,
      tz: this.tz,
      firstDay: Number.isFinite(this.firstDay) ? this.firstDay : 0,
      ...(this.sweptAt > 0 && { swept: this.sweptAt }),
      clock: this.clock,
      days: this.days.toJSON(),
      hours: this.hours.toJSON(),
      ...(this.closed?.length && { closed: this.closed }),
      ...(this.roots?.size && { roots: [...this.roots] }),
      g: this.signals.toJSON(),
      ...(this.guard && !this.guard.empty && { gw: this.guard.toJSON() }),
    };
  }

  /** The calendar day containing `t` in the agent's time zone. */
  dayOf(t: number): Window {
    const last = this.lastDay;
    if (t >= last.start && t < last.end && last.tz === this.tz) return last;
    this.lastDay = { ...dayWindow(t, this.tz), tz: this.tz };
    return this.lastDay;
  }

  /**
   * Adds one run. Returns false when its day starts before `horizon` (older than any day the state keeps) or the ring
   * has only newer days: then it is counted nowhere here (the recorder still stores it).
   */
  apply(p: PricedRun, late: boolean, s: AggregationSettings, graceMs: number, horizon: number): boolean {
    const run = p.run;
    const at = run.finished_at;
    if (at < horizon) return false;
    // A team's new time zone applies from the agent's next day that starts after its newest bucket: no overlap.
    if (s.timezone !== this.tz && dayWindow(at, s.timezone).start >= this.days.newestEnd())
      this.tz = s.timezone;
    const day = this.dayOf(at);
    let di = this.days.find(day.start);
    const live = di >= 0 ? day.start >= this.newestDay : day.start > this.newestDay;
    if (di < 0) {
      const oldest = this.days.oldestIfFull();
      if (oldest >= 0 && this.days.get(oldest, F.start) < day.start)
        this.signals.keepPastDay(
          this.days.get(oldest, F.start),
          this.days.get(oldest, F.spend),
          this.days.get(oldest, F.runs),
          this.days.get(oldest, F.input),
          at,
        );
      di = this.days.slotFor(day);
      if (di < 0) return false;
      this.newestDay = Math.max(this.newestDay, day.start);
    }
    const priced = p.price_status === 'priced';
    const spend = priced ? p.total_cost_nanos : 0;
    const success = isSuccessfulRun(run, s.qualityThreshold);
    const figures: RunFigures = {
      spend,
      successful: success,
      failed: run.status !== 'success',
      input: p.uncached_input_tokens + p.cache_read_tokens + p.cache_write_tokens,
      output: p.output_tokens,
      cached: p.cache_read_tokens,
      unattributed: run.customer_id ? 0 : spend,
      unpriced: !priced,
      late,
    };
    this.days.add(di, figures);
    const hi = this.hours.slotFor(hourWindow(at));
    if (hi >= 0) this.hours.add(hi, figures);
    this.firstDay = Math.min(this.firstDay, day.start);
    this.clock = Math.max(this.clock, at);
    this.currency = p.currency;
    this.signals.apply(p, spend, live, day.start, this.tz);
    const guardRules = this.matchingGuardRules(s);
    if (guardRules.length) (this.guard ??= new GuardWindows()).apply(guardRules, p, spend, this.clock);
    this.addToSession(p, spend);
    this.closeIdleSessions(this.clock, s.sessionIdleMs + graceMs);
    return true;
  }

  /** The team's guard rules that take this agent. */
  private matchingGuardRules(s: AggregationSettings): readonly GuardRule[] {
    if (!s.guard?.length) return [];
    return (this.guardRules ??= new MatchingRules()).get(s.guard, this.agentId);
  }

  private addToSession(p: PricedRun, spend: number): void {
    const run = p.run;
    let key: string;
    if (run.session_id) key = run.session_id;
    else {
      this.roots ??= new Map();
      key =
        (run.parent_run_id && this.roots.get(run.parent_run_id)) || `tree:${run.parent_run_id ?? run.run_id}`;
      if (this.roots.size >= MAX_TREE_RUNS) this.roots.delete(this.roots.keys().next().value!);
      this.roots.set(run.run_id, key);
    }
    this.sessions ??= new Map();
    let s = this.sessions.get(key);
    if (!s) {
      if (this.sessions.size >= MAX_OPEN_SESSIONS) this.closeOldestSession();
      s = { start: run.started_at, last: run.finished_at, cost: 0, runs: 0, logged: false };
      this.sessions.set(key, s);
      this.sessionsIdleFrom = Math.min(this.sessionsIdleFrom, run.finished_at);
    }
    s.start = Math.min(s.start, run.started_at);
    s.last = Math.max(s.last, run.finished_at);
    s.cost += spend;
    s.runs += 1;
    (this.touched ??= new Set()).add(key);
    (this.unwritten ??= new Set()).add(key);
  }

  /**
   * What makes the agent durable: its record without sessions (JSON) and a record for each session opened or changed
   * since the last call (a tuple), or null for each closed. O(sessions touched), not O(sessions open): an agent with
   * hundreds of open sessions made its record kilobytes, written with every slice it had a run in.
   */
  changelogOf(): { agent: string; sessions: [string, string | null][] } {
    const sessions: [string, string | null][] = [];
    for (const key of this.unwritten ?? []) {
      const s = this.sessions?.get(key);
      if (s) s.logged = true;
      sessions.push([
        key,
        s ? JSON.stringify([s.start, s.last, s.cost, s.runs] satisfies SessionTuple) : null,
      ]);
    }
    this.unwritten = undefined;
    return { agent: JSON.stringify(this.coreJSON()), sessions };
  }

  /** The sessions the changelog may hold a record of: those open, and those closed since the last records. */
  sessionsInChangelog(): string[] {
    return [...new Set([...(this.sessions?.keys() ?? []), ...(this.unwritten ?? [])])];
  }

  /** `sessionsInChangelog` of an agent in its JSON form (the cold store's), without loading it. */
  static sessionsInChangelogOf(j: AgentStateJson): string[] {
    return [...new Set([...(j.sessions ?? []).map(([k]) => k), ...(j.unwritten ?? [])])];
  }

  private closeOldestSession(): void {
    let oldest: [string, Session] | undefined;
    for (const e of this.sessions!) if (!oldest || e[1].last < oldest[1].last) oldest = e;
    if (oldest) this.close(oldest[0], oldest[1]);
  }

  /**
   * Closes sessions idle for `afterMs` of stream time before `now`, oldest first (so the kept costs are the latest).
   * With `report` false (a sweep of an agent that had no run) the closings change the closed count and median but are
   * not listed in the agent's next stats record: that record may come days later, or never (after a restart, or if the
   * agent waits out of memory), and it should not depend on which.
   */
  closeIdleSessions(now: number, afterMs: number, report = true): void {
    const before = now - afterMs;
    if (!this.sessions?.size || before <= this.sessionsIdleFrom) return;
    const idle: [string, Session][] = [];
    let oldestKept = Infinity;
    for (const e of this.sessions) {
      if (e[1].last < before) idle.push(e);
      else oldestKept = Math.min(oldestKept, e[1].last);
    }
    this.sessionsIdleFrom = oldestKept;
    idle.sort((a, b) => a[1].last - b[1].last || (a[0] < b[0] ? -1 : 1));
    const reported = this.closedNow?.length ?? 0;
    for (const [k, s] of idle) this.close(k, s);
    if (!report && this.closedNow) this.closedNow.length = reported;
  }

  private close(key: string, s: Session): void {
    this.sessions!.delete(key);
    this.closed ??= [];
    this.closed.push(s.cost);
    if (this.closed.length > CLOSED_SESSIONS_KEPT) this.closed.shift();
    (this.closedNow ??= []).push({
      session_key: key,
      started_at: s.start,
      last_at: s.last,
      cost_nanos: s.cost,
      runs: s.runs,
      closed: true,
    });
    this.touched?.delete(key);
    // A session that never had a record needs no delete (it was most of the changelog's records for one-run sessions).
    if (s.logged === false) this.unwritten?.delete(key);
    else (this.unwritten ??= new Set()).add(key);
    if (this.roots) for (const [runId, k] of this.roots) if (k === key) this.roots.delete(runId);
    // a quiet agent keeps no empty maps (hundreds of bytes each)
    if (this.roots?.size === 0) this.roots = undefined;
    if (this.sessions!.size === 0) this.sessions = undefined;
  }

  /**
   * The trailing complete days before `today`, zero-filled from the agent's first day: mean and sample deviation of
   * daily spend from exact integer sums, and of daily cost per run over the days that had runs.
   */
  baseline(today: Window, baselineDays: number): AgentBaseline {
    return this.baselineWalk(today, baselineDays).baseline;
  }

  /** The baseline and the pooled sums over the same days (one walk back through the days). */
  private baselineWalk(
    today: Window,
    baselineDays: number,
  ): {
    baseline: AgentBaseline;
    pooled: { spend: number; runs: number; successful: number; unattributed: number; days: number };
  } {
    const spend: number[] = [];
    const weekend: boolean[] = [];
    const perRun: number[] = [];
    const pooled = { spend: 0, runs: 0, successful: 0, unattributed: 0, days: 0 };
    let end = today.start;
    for (let n = 0; n < baselineDays; n++) {
      const day = this.dayOf(end - 1);
      if (day.start < this.firstDay) break;
      const i = this.days.find(day.start);
      const s = i >= 0 ? this.days.get(i, F.spend) : 0;
      const runs = i >= 0 ? this.days.get(i, F.runs) : 0;
      spend.push(s);
      weekend.push(isWeekendDay(day.start, this.tz));
      if (runs > 0) perRun.push(s / runs);
      pooled.spend += s;
      pooled.runs += runs;
      if (i >= 0) {
        pooled.successful += this.days.get(i, F.successful);
        pooled.unattributed += this.days.get(i, F.unattributed);
      }
      pooled.days++;
      end = day.start;
    }
    const m = moments(spend);
    const todaySpend = this.days.bucket(today).spend_nanos;
    // oldest first for the fit (the walk went back from yesterday)
    const e = expectedDay(spend.reverse(), weekend.reverse(), isWeekendDay(today.start, this.tz));
    let cprMean: number | null = null;
    let cprStd: number | null = null;
    if (perRun.length > 0) {
      cprMean = perRun.reduce((a, b) => a + b, 0) / perRun.length;
      cprStd =
        perRun.length > 1
          ? Math.sqrt(perRun.reduce((a, x) => a + (x - cprMean!) ** 2, 0) / (perRun.length - 1))
          : 0;
    }
    return {
      baseline: {
        days: spend.length,
        first_day: Number.isFinite(this.firstDay) ? this.firstDay : today.start,
        spend_mean_nanos: m.mean,
        spend_stddev_nanos: m.stddev,
        cost_per_run_mean_nanos: cprMean,
        cost_per_run_stddev_nanos: cprStd,
        spend_expected_nanos: e.expected,
        spend_expected_stddev_nanos: e.stddev,
        day_factor: e.factor,
        trend_nanos_per_day: e.trendPerDay,
        spend_zscore: e.stddev > 0 ? (todaySpend - e.expected) / e.stddev : null,
      },
      pooled,
    };
  }

  /** The agent-stats record as of stream time `now` (or of the day and hour `at` for a late-only update). */
  stats(now: number, late: boolean, at: number, s: AggregationSettings): AgentStats {
    const ref = late ? at : now;
    const day = this.dayOf(ref);
    const changed: SessionTotals[] = [...(this.closedNow ?? [])];
    for (const key of this.touched ?? []) {
      const sess = this.sessions?.get(key);
      if (sess)
        changed.push({
          session_key: key,
          started_at: sess.start,
          last_at: sess.last,
          cost_nanos: sess.cost,
          runs: sess.runs,
          closed: false,
        });
    }
    changed.sort((a, b) => b.cost_nanos - a.cost_nanos || (a.session_key < b.session_key ? -1 : 1));
    this.touched = undefined;
    this.closedNow = undefined;
    const walk = this.baselineWalk(day, s.baselineDays);
    return {
      team: this.team,
      agent_id: this.agentId,
      currency: this.currency,
      timezone: this.tz,
      stream_time: now,
      late,
      day: this.days.bucket(day),
      hour: this.hours.bucket(hourWindow(ref)),
      baseline: walk.baseline,
      sessions: {
        open: this.sessions?.size ?? 0,
        closed: this.closed?.length ?? 0,
        median_cost_nanos: this.closed?.length ? median(this.closed) : null,
        changed: changed.slice(0, CHANGED_SESSIONS_EMITTED),
      },
      signals: this.signalsOf(day, s, walk.pooled),
      guard: this.guard ? this.guard.snapshot(this.matchingGuardRules(s), this.clock) : [],
    };
  }

  /** The rule signals of a stats record about `today`. */
  private signalsOf(
    today: Window,
    s: AggregationSettings,
    pooled: { spend: number; runs: number; successful: number; unattributed: number; days: number },
  ): AgentSignals {
    const { spend, runs, successful, unattributed, days } = pooled;
    const yesterday = this.yesterdayOf(today);
    const yesterdayKept = yesterday.start >= this.firstDay;
    const historyDays = Number.isFinite(this.firstDay)
      ? Math.max(0, Math.min(HISTORY_DAYS, Math.round((today.start - this.firstDay) / DAY)))
      : 0;
    return {
      ...this.signals.snapshot(s, this.clock),
      history_days: historyDays,
      yesterday: yesterdayKept ? this.days.bucket(yesterday) : null,
      baseline_cost_per_run_nanos: runs > 0 ? spend / runs : null,
      baseline_cost_per_success_nanos: successful > 0 ? spend / successful : null,
      baseline_unattributed_mean_nanos: days > 0 ? unattributed / days : 0,
      reference_cost_per_run: this.driftReference(today, s.referenceDays),
      input_tokens_per_run: this.inputTokensPerRun(today, yesterdayKept ? yesterday : null),
      reference_input_tokens_per_run: this.creepReference(today),
    };
  }

  /** Input tokens per run of yesterday and today together (what the creep is measured on); null without runs. */
  private inputTokensPerRun(today: Window, yesterday: Window | null): number | null {
    let input = 0;
    let runs = 0;
    for (const w of yesterday ? [today, yesterday] : [today]) {
      const i = this.days.find(w.start);
      if (i >= 0) [input, runs] = [input + this.days.get(i, F.input), runs + this.days.get(i, F.runs)];
    }
    return runs > 0 ? input / runs : null;
  }

  /**
   * The level prompt creep is measured from: the median of daily input tokens per run (and, over the same days, of
   * cost per run) over the days [today - 28, today - 14) that had runs, weeks before the level it is compared with. A
   * median of days, not a pooled mean: a day of odd traffic (a batch job, a holiday) does not move it. Null with fewer
   * than five such days.
   */
  private creepReference(
    today: Window,
  ): { input_tokens_per_run: number; cost_per_run_nanos: number; days: number } | null {
    const from = today.start - CREEP_REFERENCE.fromDays * DAY;
    const until = today.start - CREEP_REFERENCE.untilDays * DAY;
    if (!(this.firstDay < until - HOUR)) return null; // no day of it yet (most agents' first weeks: no arrays)
    const tokens: number[] = [];
    const costs: number[] = [];
    // day starts are a DST hour either side of a whole number of days before today's
    const add = (start: number, spend: number, runs: number, input: number) => {
      if (runs > 0 && input >= 0 && start >= from - HOUR && start < until - HOUR) {
        tokens.push(input / runs);
        costs.push(spend / runs);
      }
    };
    const { past, pastInput } = this.signals;
    for (let i = 0, d = 0; i < past.length; i += 3, d++) add(past[i], past[i + 1], past[i + 2], pastInput[d]);
    for (let i = 0; i < this.days.slots; i++)
      if (this.days.get(i, F.end) !== 0)
        add(
          this.days.get(i, F.start),
          this.days.get(i, F.spend),
          this.days.get(i, F.runs),
          this.days.get(i, F.input),
        );
    if (tokens.length < CREEP_REFERENCE.minDays) return null;
    return { input_tokens_per_run: median(tokens)!, cost_per_run_nanos: median(costs)!, days: tokens.length };
  }

  /** The day before `today` (kept: a window is worked out once a day, not for every stats record). */
  private yesterdayOf(today: Window): Window {
    const kept = this.yesterday;
    if (kept && kept.end === today.start && kept.tz === this.tz) return kept;
    const w = dayWindow(today.start - 1, this.tz);
    this.yesterday = { ...w, tz: this.tz };
    return w;
  }

  /**
   * Cost per run of the oldest `referenceDays` days of the last DRIFT_LOOKBACK_DAYS complete days (from the agent's
   * first day, if later): what prompt creep is measured from. Null without runs in them.
   */
  private driftReference(today: Window, referenceDays: number): { nanos: number; days: number } | null {
    const from = Math.max(this.firstDay, today.start - DRIFT_LOOKBACK_DAYS * DAY);
    const until = Math.min(today.start, from + referenceDays * DAY);
    if (!(until > from)) return null;
    let spend = 0;
    let runs = 0;
    const add = (start: number, s: number, r: number) => {
      if (start >= from - HOUR && start < until - HOUR) [spend, runs] = [spend + s, runs + r];
    };
    const past = this.signals.past;
    for (let i = 0; i < past.length; i += 3) add(past[i], past[i + 1], past[i + 2]);
    for (let i = 0; i < this.days.slots; i++)
      if (this.days.get(i, F.end) !== 0)
        add(this.days.get(i, F.start), this.days.get(i, F.spend), this.days.get(i, F.runs));
    return runs > 0 ? { nanos: spend / runs, days: Math.round((until - from) / DAY) } : null;
  }

  /** True when nothing the state holds is inside the baseline any more: the agent can leave memory. */
  expired(now: number, baselineDays: number): boolean {
    const newest = this.days.newestEnd();
    return newest > 0 && newest < now - (baselineDays + 2) * 24 * HOUR && !this.sessions?.size;
  }
}
