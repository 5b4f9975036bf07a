import type { Anomaly, Contributor, Evaluation } from './anomaly';
import { AnomalyTracker, type EmitContext, type TrackedSet } from './anomaly-tracker';
import { isSuccessfulRun, type PricedRun } from '@libs/contracts';
import { median } from '@libs/stats';
import { baselineOf, type AgentDayContext, type Baseline, type DayTotals } from './context';
import type { DetectorSettings } from '@libs/team-settings';
import { dayWindow, minuteWindow, monthWindow, type Window } from '@libs/team-settings';
import { SpendZScoreRule } from '../rules/spend-zscore.rule';
import { CostPerRunJumpRule } from '../rules/cost-per-run-jump.rule';
import { CostPerRunDriftRule } from '../rules/cost-per-run-drift.rule';
import { CostPerSuccessClimbRule } from '../rules/cost-per-success.rule';
import { UnattributedSpendRule } from '../rules/unattributed-spend.rule';
import { RunRateLoopRule } from '../rules/run-rate-loop.rule';
import { ChildRunLoopRule } from '../rules/child-run-loop.rule';
import { SessionOutlierRule } from '../rules/session-outlier.rule';
import { UnpricedModelRule } from '../rules/unpriced-model.rule';
import { BudgetRule } from '../rules/budget.rule';
import type { TeamSpend, TeamSpendEntry } from './team-detector';

const HISTORY_DAYS = 60;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DRIFT_LOOKBACK_DAYS = 35;
const CLOSED_SESSIONS_KEPT = 200;
const MAX_OPEN_SESSIONS = 2000;
const MAX_OPEN_PARENTS = 5000;
const MAX_DIMENSION_KEYS = 500;
const PARENT_IDLE_MS = 3_600_000;
const NORM_HORIZON = 240;
const NONE = '(none)';
const OTHER = '(other)';

export interface DetectorOptions {
  /** Run ids are remembered this long in stream time, so that a run delivered again is counted once... */
  dedupeWindowMs: number;
  /** ...but at most this many (the oldest batches of them forgotten first). */
  dedupeMaxIds: number;
}

/** The aggregator's defaults (DEDUPE_WINDOW_MS, DEDUPE_MAX_IDS): both services count a retried run once, alike. */
export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = {
  dedupeWindowMs: 15 * 60_000,
  dedupeMaxIds: 200_000,
};

/**
 * An object without a prototype: its keys come from runs (session and parent run ids, customers, features), and on a
 * plain object `__proto__` would reach Object.prototype and `toString` would find a function.
 */
const dict = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;

/** The same entries in a prototype-less object (JSON.parse made them own keys of a plain one, `__proto__` too). */
const asDict = <T>(o: Record<string, T> | undefined): Record<string, T> => Object.assign(dict<T>(), o);

interface Today extends DayTotals {
  customers: Record<string, number>;
  features: Record<string, number>;
  unpriced: Record<string, number>;
}

/** Everything the detector keeps for one agent; JSON so it goes to the changelog as is. Maps by key are `dict`s. */
export interface AgentLedger {
  team: string;
  agentId: string;
  currency: string;
  clock: number;
  today: Today;
  history: DayTotals[];
  recentCosts: number[];
  minute: { start: number; runs: number };
  minuteNorm: { mean: number; n: number };
  sessions: Record<string, { start: number; last: number; cost: number; runs: number }>;
  closedSessions: number[];
  parents: Record<string, { children: number; last: number }>;
  childNorm: { mean: number; n: number };
  month: { start: number; end: number; spendNanos: number };
  tracked: TrackedSet;
}

/**
 * Changelog keys. An agent's open sessions are each a record of their own (`session:` + JSON [agent, session id]), not
 * part of the agent's: a batch then writes the sessions it touched, not every open one (an agent with hundreds of open
 * sessions made each of its ledger records kilobytes, the largest cost of this service). The run ids a batch counted
 * are one record (`seen:` + JSON [team, run id] of its first run: unique, as one team's run is counted once).
 */
export type LedgerKey = `agent:${string}` | `session:${string}` | `seen:${string}`;

/** The run ids (team NUL run_id) one batch counted, and the stream time at its end. */
interface RunIds {
  key: LedgerKey;
  at: number;
  ids: string[];
}

type OpenSession = AgentLedger['sessions'][string];

export interface DetectorOutput {
  anomalies: Anomaly[];
  /** Ledgers changed by this input (to persist). */
  changed: Set<LedgerKey>;
  /** The run was counted before (same team and run_id, within the dedupe window): it changed nothing. */
  duplicate: boolean;
}

export type SettingsLookup = (team: string) => DetectorSettings;

interface Derived {
  baselineDays: number;
  referenceDays: number;
  baseline: Baseline;
  reference: { nanos: number; days: number } | null;
}

const emptyDay = (w: Window): Today => ({
  start: w.start,
  end: w.end,
  spendNanos: 0,
  runs: 0,
  successful: 0,
  unattributedNanos: 0,
  unpricedRuns: 0,
  customers: dict(),
  features: dict(),
  unpriced: dict(),
});

const totalsOf = (d: Today): DayTotals => ({
  start: d.start,
  end: d.end,
  spendNanos: d.spendNanos,
  runs: d.runs,
  successful: d.successful,
  unattributedNanos: d.unattributedNanos,
  unpricedRuns: d.unpricedRuns,
});

function bump(map: Record<string, number>, key: string, by: number): void {
  if (key in map || Object.keys(map).length < MAX_DIMENSION_KEYS) map[key] = (map[key] ?? 0) + by;
  else map[OTHER] = (map[OTHER] ?? 0) + by;
}

export function topOf(map: Record<string, number>, n = 5): Contributor[] {
  return Object.entries(map)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, spend_nanos]) => ({ name, spend_nanos }));
}

/**
 * The detector's framework-free core for one partition of runs.priced: priced runs in event-time order per agent (as
 * the agent-keyed topic delivers them) update the agent's day ledger, trailing history, minute and session counters
 * and budget accumulators; every live run re-evaluates the rules, and the tracker turns their verdicts into firing /
 * escalated / resolved records. What a team spends is summed here per slice (`takeTeamSpend`) and goes on, keyed by
 * team, to the TeamDetector that owns team and customer budgets: a team's agents live in many partitions.
 */
export class Detector {
  readonly agents = new Map<string, AgentLedger>();
  private readonly tracker = new AnomalyTracker();
  private readonly zscore = new SpendZScoreRule();
  private readonly jump = new CostPerRunJumpRule();
  private readonly drift = new CostPerRunDriftRule();
  private readonly perSuccess = new CostPerSuccessClimbRule();
  private readonly unattributed = new UnattributedSpendRule();
  private readonly runRate = new RunRateLoopRule();
  private readonly childRuns = new ChildRunLoopRule();
  private readonly session = new SessionOutlierRule();
  private readonly unpriced = new UnpricedModelRule();
  private readonly budget = new BudgetRule();
  /**
   * What an agent's ledger gives the same way for every run until a day rolls, a late run lands in a past day or a
   * session closes: worked out once then, not for every run (it was a third of this core's time).
   */
  private readonly derived = new WeakMap<AgentLedger, Derived>();
  private readonly medians = new WeakMap<AgentLedger, number>();
  /** Each open session's changelog key, built once. */
  private readonly sessionKeys = new WeakMap<OpenSession, LedgerKey>();
  /** While restoring: sessions whose agent's record comes later in the changelog (compaction keeps only the latest). */
  private readonly orphanSessions = new Map<string, Record<string, OpenSession>>();
  /** Stream time: the latest finished_at of the runs counted. The dedupe window is measured in it. */
  private streamTime = 0;
  /** Each remembered run id (team NUL run_id), with the batch that counted it. */
  private readonly seen = new Map<string, RunIds>();
  /** The remembered batches of run ids by changelog key, oldest first. */
  private readonly runIds = new Map<LedgerKey, RunIds>();
  private remembered = 0;
  /** The run ids counted since the last `endBatch`. */
  private counting: RunIds | undefined;
  /** The stream-time hour of the last sweep for idle agents. */
  private sweptHour = 0;
  /** Team spend counted since the last `takeTeamSpend`, by team, day and customer. */
  private spend = new Map<string, TeamSpendEntry & { team: string; currency: string }>();

  constructor(
    private readonly settingsOf: SettingsLookup,
    private readonly options: DetectorOptions = DEFAULT_DETECTOR_OPTIONS,
  ) {}

  static agentKey(team: string, agentId: string): LedgerKey {
    return `agent:${team}/${agentId}`;
  }

  static sessionKey(team: string, agentId: string, sessionId: string): LedgerKey {
    return `session:${JSON.stringify([`${team}/${agentId}`, sessionId])}`;
  }

  static runIdsKey(team: string, runId: string): LedgerKey {
    return `seen:${JSON.stringify([team, runId])}`;
  }

  /**
   * Applies one changelog record (its parsed JSON value; `null` deletes), in changelog order.
   */
  restore(key: LedgerKey, value: AgentLedger | OpenSession | Omit<RunIds, 'key'> | null): void {
    const kind = key.slice(0, key.indexOf(':'));
    const id = key.slice(key.indexOf(':') + 1);
    if (kind === 'session') {
      const [agent, sessionId] = JSON.parse(id) as [string, string];
      const sessions = this.agents.get(agent)?.sessions ?? this.orphans(agent);
      if (value === null) delete sessions[sessionId];
      else sessions[sessionId] = value as OpenSession;
    } else if (kind === 'agent') {
      if (value === null) {
        this.agents.delete(id);
        this.orphanSessions.delete(id);
        return;
      }
      const ledger = agentFromJson(value as AgentLedger);
      // A record that carries sessions has all of them (the earlier format); one without keeps what is restored.
      ledger.sessions ??= this.agents.get(id)?.sessions ?? this.orphanSessions.get(id) ?? dict();
      this.orphanSessions.delete(id);
      this.agents.set(id, ledger);
    } else if (kind === 'seen') {
      const before = this.runIds.get(key);
      if (before) this.forget(before);
      if (value === null) return;
      const { at, ids } = value as Omit<RunIds, 'key'>;
      const batch: RunIds = { key, at, ids };
      this.runIds.set(key, batch);
      for (const runId of ids) this.seen.set(runId, batch);
      this.remembered += ids.length;
      this.streamTime = Math.max(this.streamTime, at);
    }
  }

  /** Ends a restore: sessions of agents the changelog no longer has are dropped; run ids in stream-time order. */
  restored(): void {
    this.orphanSessions.clear();
    const batches = [...this.runIds.values()].sort((x, y) => x.at - y.at);
    this.runIds.clear();
    for (const b of batches) this.runIds.set(b.key, b);
  }

  private orphans(agent: string): Record<string, OpenSession> {
    let sessions = this.orphanSessions.get(agent);
    if (!sessions) this.orphanSessions.set(agent, (sessions = dict()));
    return sessions;
  }

  /**
   * Ends a batch: the run ids it counted become one changelog record, and the oldest records are forgotten (and
   * deleted) once out of the window or over the most kept, as the aggregator does with its own.
   */
  endBatch(changed: Set<LedgerKey>): void {
    const batch = this.counting;
    if (batch) {
      this.counting = undefined;
      batch.at = this.streamTime;
      this.runIds.set(batch.key, batch);
      this.remembered += batch.ids.length;
      changed.add(batch.key);
    }
    const { dedupeWindowMs, dedupeMaxIds } = this.options;
    for (const oldest of this.runIds.values()) {
      if (this.runIds.size <= 1) break;
      if (oldest.at >= this.streamTime - dedupeWindowMs && this.remembered - oldest.ids.length < dedupeMaxIds)
        break;
      this.forget(oldest);
      changed.add(oldest.key);
    }
    const hour = Math.floor(this.streamTime / HOUR);
    if (hour > this.sweptHour) {
      this.sweptHour = hour;
      this.forgetIdleAgents(changed);
    }
  }

  /**
   * Agents without a run for the whole history the rules read (HISTORY_DAYS of stream time) have nothing left to judge
   * against: their ledgers and open sessions leave memory and the changelog, unless an incident of theirs is open.
   */
  private forgetIdleAgents(changed: Set<LedgerKey>): void {
    const before = this.streamTime - HISTORY_DAYS * DAY;
    for (const [id, a] of this.agents) {
      if (a.clock >= before) continue;
      let open = false;
      for (const _ in a.tracked) open = true;
      if (open) continue;
      for (const s of Object.keys(a.sessions)) changed.add(Detector.sessionKey(a.team, a.agentId, s));
      this.agents.delete(id);
      changed.add(`agent:${id}`);
    }
  }

  private forget(batch: RunIds): void {
    this.runIds.delete(batch.key);
    for (const id of batch.ids) if (this.seen.get(id) === batch) this.seen.delete(id);
    this.remembered -= batch.ids.length;
  }

  /** Run ids remembered for dedupe. */
  get rememberedIds(): number {
    return this.remembered;
  }

  ledger(key: LedgerKey): AgentLedger | undefined {
    return key.startsWith('agent:') ? this.agents.get(key.slice('agent:'.length)) : undefined;
  }

  /** What each team spent in the runs since the last call, by day and customer, oldest first. */
  takeTeamSpend(): TeamSpend[] {
    const byTeam = new Map<string, TeamSpend>();
    for (const { team, currency, ...entry } of this.spend.values()) {
      let t = byTeam.get(team);
      if (!t) byTeam.set(team, (t = { team, currency, entries: [] }));
      t.entries.push(entry);
    }
    this.spend = new Map();
    for (const t of byTeam.values()) t.entries.sort((x, y) => x.at - y.at);
    return [...byTeam.values()];
  }

  /** The changelog value of `key` now: JSON, or null when it is gone. An agent's record leaves out its sessions. */
  persisted(key: LedgerKey): string | null {
    if (key.startsWith('seen:')) {
      const batch = this.runIds.get(key);
      return batch ? JSON.stringify({ at: batch.at, ids: batch.ids }) : null;
    }
    if (key.startsWith('session:')) {
      const [agent, sessionId] = JSON.parse(key.slice('session:'.length)) as [string, string];
      const session = this.agents.get(agent)?.sessions[sessionId];
      return session ? JSON.stringify(session) : null;
    }
    const ledger = this.ledger(key);
    if (!ledger) return null;
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { sessions, ...rest } = ledger;
    return JSON.stringify(rest);
  }

  /**
   * One run; the ledgers it changed are added to `changed` (a batch passes one set for all its runs, then `endBatch`).
   * A run whose team and run_id were counted within the dedupe window (a retry, a redelivery) changes nothing.
   */
  onRun(p: PricedRun, changed = new Set<LedgerKey>()): DetectorOutput {
    const run = p.run;
    // a run_id is the team's own: another team's run with the same id is another run
    const runId = `${p.team}\u0000${run.run_id}`;
    if (this.seen.has(runId)) return { anomalies: [], changed, duplicate: true };
    const batch = (this.counting ??= { key: Detector.runIdsKey(p.team, run.run_id), at: 0, ids: [] });
    batch.ids.push(runId);
    this.seen.set(runId, batch);
    this.streamTime = Math.max(this.streamTime, run.finished_at);

    const settings = this.settingsOf(p.team);
    const tz = settings.timezone;
    const at = run.finished_at;
    changed.add(Detector.agentKey(p.team, run.agent_id));
    const a = this.agentLedger(p, tz);
    const cost = p.price_status === 'priced' ? p.total_cost_nanos : 0;
    const late =
      (run.received_at !== null && run.received_at - at > settings.lateAfterMs) ||
      at < a.clock - settings.lateAfterMs;

    if (at < a.today.start) {
      const past = a.history.find((d) => d.start <= at && at < d.end);
      if (past) {
        this.addToDay(past, p, cost, settings);
        this.derived.delete(a);
      }
      this.addTeamSpend(p, cost, late, dayWindow(at, tz).start);
      if (at >= a.month.start) a.month.spendNanos += cost;
      return { anomalies: [], changed, duplicate: false };
    }

    const anomalies: Anomaly[] = [];
    const expiry = { at, late, currency: p.currency };
    if (at >= a.today.end) this.rollDay(a, at, tz);
    if (at >= a.month.end) a.month = { ...monthWindow(at, tz), spendNanos: 0 };
    a.clock = Math.max(a.clock, at);
    anomalies.push(...this.tracker.expire(a.tracked, a.clock, expiry));
    this.addToDay(a.today, p, cost, settings);
    a.month.spendNanos += cost;
    if (p.price_status === 'priced') {
      a.recentCosts.push(cost);
      if (a.recentCosts.length > settings.costPerRun.recentRuns) a.recentCosts.shift();
    }
    const evals: (Evaluation | null)[] = [];

    const minute = minuteWindow(at);
    if (minute.start > a.minute.start) {
      if (a.minute.runs > 0) a.minuteNorm = ewma(a.minuteNorm, a.minute.runs);
      a.minute = { start: minute.start, runs: 0 };
      this.sweep(a, at, settings, changed);
    }
    if (minute.start === a.minute.start) a.minute.runs++;
    evals.push(
      this.runRate.evaluate(
        {
          team: p.team,
          agentId: run.agent_id,
          minuteStart: a.minute.start,
          runsThisMinute: a.minute.runs,
          normPerMinute: a.minuteNorm.n >= 30 ? a.minuteNorm.mean : null,
        },
        settings.runRate,
      ),
    );

    if (run.parent_run_id) {
      const parent = (a.parents[run.parent_run_id] ??= { children: 0, last: at });
      parent.children++;
      parent.last = Math.max(parent.last, at);
      evals.push(
        this.childRuns.evaluate(
          {
            team: p.team,
            agentId: run.agent_id,
            at,
            parentRunId: run.parent_run_id,
            children: parent.children,
            normPerParent: a.childNorm.n >= 20 ? a.childNorm.mean : null,
          },
          settings.childRuns,
        ),
      );
    }

    if (run.session_id) {
      const s = (a.sessions[run.session_id] ??= { start: run.started_at, last: at, cost: 0, runs: 0 });
      let key = this.sessionKeys.get(s);
      if (!key) this.sessionKeys.set(s, (key = Detector.sessionKey(p.team, run.agent_id, run.session_id)));
      changed.add(key);
      s.cost += cost;
      s.runs++;
      s.last = Math.max(s.last, at);
      evals.push(
        this.session.evaluate(
          {
            team: p.team,
            agentId: run.agent_id,
            currency: p.currency,
            sessionId: run.session_id,
            sessionStart: s.start,
            lastActivity: s.last,
            costNanos: s.cost,
            runs: s.runs,
            medianNanos: this.closedMedian(a),
            sampleSize: a.closedSessions.length,
          },
          settings.session,
        ),
      );
    }

    if (p.price_status === 'unpriced' && settings.unpriced.enabled) {
      evals.push(
        this.unpriced.evaluate({
          team: p.team,
          agentId: run.agent_id,
          provider: p.provider,
          model: run.model,
          dayStart: a.today.start,
          dayEnd: a.today.end,
          runsToday: a.today.unpriced[`${p.provider}/${run.model}`] ?? 1,
        }),
      );
    }

    const ctx = this.dayContext(a, at, settings);
    const minExcess = settings.zscore.minExcessNanos;
    evals.push(
      this.zscore.evaluate(ctx, settings.zscore),
      this.jump.evaluate(ctx, settings.costPerRun, minExcess),
      this.drift.evaluate(ctx, settings.costPerRunDrift, settings.costPerRun.ratio, tz, a.history.length),
      this.perSuccess.evaluate(ctx, settings.costPerSuccess, minExcess),
      this.unattributed.evaluate(ctx, settings.unattributed),
    );
    for (const b of settings.budgets) {
      if (b.scope !== 'agent' || b.subject !== run.agent_id) continue;
      const w = b.period === 'day' ? a.today : a.month;
      evals.push(
        this.budget.evaluate({
          team: p.team,
          agentId: run.agent_id,
          budget: b,
          windowStart: w.start,
          windowEnd: w.end,
          spentNanos: w.spendNanos,
          currency: p.currency,
        }),
      );
    }
    const emit = new LedgerEmit(at, late, p.currency, run.run_id, a.today);
    anomalies.push(...this.tracker.apply(a.tracked, evals, emit));

    this.addTeamSpend(p, cost, late, a.today.start);
    return { anomalies, changed, duplicate: false };
  }

  /** The day-level view the stats rules read, from the agent's own ledger. */
  dayContext(a: AgentLedger, at: number, settings: DetectorSettings): AgentDayContext {
    const recent = a.recentCosts.length
      ? { nanos: a.recentCosts.reduce((x, y) => x + y, 0) / a.recentCosts.length, runs: a.recentCosts.length }
      : null;
    const baselineDays = settings.zscore.baselineDays;
    const referenceDays = settings.costPerRunDrift.referenceDays;
    let d = this.derived.get(a);
    if (!d || d.baselineDays !== baselineDays || d.referenceDays !== referenceDays) {
      const refDays = a.history.slice(-DRIFT_LOOKBACK_DAYS).slice(0, referenceDays);
      const refRuns = refDays.reduce((x, d) => x + d.runs, 0);
      const refSpend = refDays.reduce((x, d) => x + d.spendNanos, 0);
      d = {
        baselineDays,
        referenceDays,
        baseline: baselineOf(a.history, baselineDays),
        reference: refRuns > 0 ? { nanos: refSpend / refRuns, days: refDays.length } : null,
      };
      this.derived.set(a, d);
    }
    return new LedgerDayContext(a, at, d.baseline, recent, d.reference);
  }

  private closedMedian(a: AgentLedger): number {
    let m = this.medians.get(a);
    if (m === undefined) this.medians.set(a, (m = median(a.closedSessions) ?? 0));
    return m;
  }

  private agentLedger(p: PricedRun, tz: string): AgentLedger {
    const id = `${p.team}/${p.run.agent_id}`;
    let a = this.agents.get(id);
    if (!a) {
      const at = p.run.finished_at;
      a = {
        team: p.team,
        agentId: p.run.agent_id,
        currency: p.currency,
        clock: at,
        today: emptyDay(dayWindow(at, tz)),
        history: [],
        recentCosts: [],
        minute: { start: minuteWindow(at).start, runs: 0 },
        minuteNorm: { mean: 0, n: 0 },
        sessions: dict(),
        closedSessions: [],
        parents: dict(),
        childNorm: { mean: 0, n: 0 },
        month: { ...monthWindow(at, tz), spendNanos: 0 },
        tracked: dict(),
      };
      this.agents.set(id, a);
    }
    return a;
  }

  private addToDay(d: DayTotals | Today, p: PricedRun, cost: number, settings: DetectorSettings): void {
    const run = p.run;
    d.spendNanos += cost;
    d.runs++;
    if (isSuccessfulRun(run, settings.qualityThreshold)) d.successful++;
    if (!run.customer_id) d.unattributedNanos += cost;
    if (p.price_status === 'unpriced') d.unpricedRuns++;
    if ('customers' in d) {
      bump(d.customers, run.customer_id ?? NONE, cost);
      bump(d.features, run.feature ?? NONE, cost);
      if (p.price_status === 'unpriced') bump(d.unpriced, `${p.provider}/${run.model}`, 1);
    }
  }

  /** The run's cost, summed with the slice's other runs of its team, day and customer, for the team's budgets. */
  private addTeamSpend(p: PricedRun, cost: number, late: boolean, dayStart: number): void {
    const run = p.run;
    const key = `${p.team}\u0000${dayStart}\u0000${run.customer_id ?? ''}`;
    const e = this.spend.get(key);
    if (!e)
      this.spend.set(key, {
        team: p.team,
        currency: p.currency,
        at: run.finished_at,
        customer: run.customer_id,
        nanos: cost,
        run_id: run.run_id,
        late,
      });
    else {
      e.nanos += cost;
      e.late &&= late;
      if (run.finished_at >= e.at) [e.at, e.run_id] = [run.finished_at, run.run_id];
    }
  }

  private rollDay(a: AgentLedger, at: number, tz: string): void {
    this.derived.delete(a);
    a.history.push(totalsOf(a.today));
    let next = dayWindow(a.today.end, tz);
    while (next.end <= at) {
      a.history.push(totalsOf(emptyDay(next)));
      next = dayWindow(next.end, tz);
    }
    if (a.history.length > HISTORY_DAYS) a.history.splice(0, a.history.length - HISTORY_DAYS);
    a.today = emptyDay(next);
  }

  private sweep(a: AgentLedger, at: number, settings: DetectorSettings, changed: Set<LedgerKey>): void {
    const sessions = Object.entries(a.sessions);
    for (const [id, s] of sessions) {
      if (at - s.last < settings.session.idleCloseMs && sessions.length <= MAX_OPEN_SESSIONS) continue;
      delete a.sessions[id];
      changed.add(this.sessionKeys.get(s) ?? Detector.sessionKey(a.team, a.agentId, id));
      a.closedSessions.push(s.cost);
      this.medians.delete(a);
    }
    if (a.closedSessions.length > CLOSED_SESSIONS_KEPT)
      a.closedSessions.splice(0, a.closedSessions.length - CLOSED_SESSIONS_KEPT);
    const parents = Object.entries(a.parents);
    for (const [id, parent] of parents) {
      if (at - parent.last < PARENT_IDLE_MS && parents.length <= MAX_OPEN_PARENTS) continue;
      delete a.parents[id];
      a.childNorm = ewma(a.childNorm, parent.children);
    }
  }
}

/**
 * An agent's top customers and features today, worked out only when asked (a record is made): an object literal with
 * getters, made for every run, cost more than the whole evaluation of the run.
 */
abstract class TodaysContributors {
  constructor(readonly today: Today) {}

  get topCustomers(): Contributor[] {
    return topOf(this.today.customers);
  }

  get topFeatures(): Contributor[] {
    return topOf(this.today.features);
  }
}

/** The emit context of an agent's run. */
class LedgerEmit extends TodaysContributors implements EmitContext {
  constructor(
    readonly at: number,
    readonly late: boolean,
    readonly currency: string,
    readonly triggerRunId: string,
    today: Today,
  ) {
    super(today);
  }
}

/** The day-level facts of an agent's ledger for the stats rules. */
class LedgerDayContext extends TodaysContributors implements AgentDayContext {
  readonly team: string;
  readonly agentId: string;
  readonly currency: string;
  readonly yesterday: DayTotals | null;

  constructor(
    a: AgentLedger,
    readonly at: number,
    readonly baseline: Baseline,
    readonly recentCostPerRun: { nanos: number; runs: number } | null,
    readonly referenceCostPerRun: { nanos: number; days: number } | null,
  ) {
    super(a.today);
    this.team = a.team;
    this.agentId = a.agentId;
    this.currency = a.currency;
    this.yesterday = a.history.at(-1) ?? null;
  }
}

/** An agent's ledger as the changelog gave it, its maps by key made `dict`s. */
function agentFromJson(a: AgentLedger): AgentLedger {
  const today = a.today;
  today.customers = asDict(today.customers);
  today.features = asDict(today.features);
  today.unpriced = asDict(today.unpriced);
  if (a.sessions) a.sessions = asDict(a.sessions);
  a.parents = asDict(a.parents);
  a.tracked = asDict(a.tracked);
  return a;
}

function ewma(norm: { mean: number; n: number }, x: number): { mean: number; n: number } {
  const n = Math.min(norm.n + 1, NORM_HORIZON);
  return { mean: norm.mean + (x - norm.mean) / n, n };
}
