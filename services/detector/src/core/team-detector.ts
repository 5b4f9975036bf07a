import type { TeamSpend } from '@libs/contracts';
import { dayWindow, monthWindow, type DetectorSettings } from '@libs/team-settings';
import { BudgetRule } from '../rules/budget.rule';
import type { Anomaly, Contributor, Evaluation } from './anomaly';
import { AnomalyTracker, type TrackedSet } from './anomaly-tracker';
import { asDict, dict } from './dict';
import { soloIncident } from './incidents';
import { anyDue, budgetHold, dueHolds, type ControlRecord, type GuardHold } from './guard';
import type { GuardOptions } from './detector';

/** Team-wide month and day accumulators for team and customer budgets. */
export interface TeamLedger {
  team: string;
  currency: string;
  day: { start: number; end: number; spendNanos: number; customers: Record<string, number> };
  month: { start: number; end: number; spendNanos: number; customers: Record<string, number> };
  tracked: TrackedSet;
  /** Blocks of budgets at 100% with block_at_100, by control key, until their period ends. */
  holds?: Record<string, GuardHold>;
}

export type TeamLedgerKey = `team:${string}`;
export type { TeamSpend };

const MAX_CUSTOMERS = 500;
const OTHER = '(other)';

function bump(map: Record<string, number>, key: string, by: number): void {
  if (key in map || Object.keys(map).length < MAX_CUSTOMERS) map[key] = (map[key] ?? 0) + by;
  else map[OTHER] = (map[OTHER] ?? 0) + by;
}

/** The top `n` names of a map by spend. */
function topOf(map: Record<string, number>, n = 5): Contributor[] {
  return Object.entries(map)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, spend_nanos]) => ({ name, spend_nanos }));
}

/**
 * Team and customer budgets, for the teams of one partition of burnrate.team-spend.v1. A team's agents live in many
 * partitions of runs.priced; the aggregator sends what each team spent per batch, keyed by team, so one owner sums it.
 */
export class TeamDetector {
  readonly teams = new Map<string, TeamLedger>();
  private readonly tracker = new AnomalyTracker();
  private readonly budget = new BudgetRule();

  constructor(
    private readonly settingsOf: (team: string) => DetectorSettings,
    /** The wall clock the guard's blocks lapse by; null (backtests): budgets never block. */
    private readonly guard: GuardOptions | null = null,
  ) {}

  static key(team: string): TeamLedgerKey {
    return `team:${team}`;
  }

  /** Applies one changelog record (its parsed JSON value; null deletes). */
  restore(key: string, value: TeamLedger | null): void {
    if (!key.startsWith('team:')) return;
    const team = key.slice('team:'.length);
    if (value === null) this.teams.delete(team);
    else
      this.teams.set(team, {
        ...value,
        day: { ...value.day, customers: asDict(value.day.customers) },
        month: { ...value.month, customers: asDict(value.month.customers) },
        tracked: asDict(value.tracked),
        ...(value.holds && { holds: asDict(value.holds) }),
      });
  }

  /** The changelog value of a team's ledger now. */
  persisted(key: TeamLedgerKey): string | null {
    const t = this.teams.get(key.slice('team:'.length));
    return t ? JSON.stringify(t) : null;
  }

  /**
   * One team-spend record: adds it up and evaluates the team's and its customers' budgets; a budget with block_at_100
   * reaching 100% adds its AgentControl to `controls`.
   */
  onSpend(spend: TeamSpend, changed: Set<TeamLedgerKey>, controls: ControlRecord[] = []): Anomaly[] {
    const settings = this.settingsOf(spend.team);
    const tz = settings.timezone;
    const out: Anomaly[] = [];
    changed.add(TeamDetector.key(spend.team));
    for (const e of spend.entries) {
      const t = this.ledger(spend, e.at, tz);
      const at = e.at;
      if (at >= t.day.end) t.day = { ...dayWindow(at, tz), spendNanos: 0, customers: dict() };
      if (at >= t.month.end) t.month = { ...monthWindow(at, tz), spendNanos: 0, customers: dict() };
      if (at >= t.day.start) {
        t.day.spendNanos += e.spend_nanos;
        if (e.customer_id) bump(t.day.customers, e.customer_id, e.spend_nanos);
      }
      if (at >= t.month.start) {
        t.month.spendNanos += e.spend_nanos;
        if (e.customer_id) bump(t.month.customers, e.customer_id, e.spend_nanos);
      }
      out.push(...this.tracker.expire(t.tracked, at, { at, late: e.late, currency: spend.currency }));
      const evals: (Evaluation | null)[] = [];
      for (const b of settings.budgets) {
        if (b.scope === 'agent') continue;
        if (b.scope === 'customer' && b.subject !== e.customer_id) continue;
        const w = b.period === 'day' ? t.day : t.month;
        evals.push(
          this.budget.evaluate({
            team: spend.team,
            agentId: null,
            budget: b,
            windowStart: w.start,
            windowEnd: w.end,
            spentNanos: b.scope === 'team' ? w.spendNanos : (w.customers[b.subject] ?? 0),
            currency: spend.currency,
          }),
        );
      }
      if (evals.length)
        out.push(
          ...this.tracker.apply(t.tracked, evals, {
            at,
            late: e.late,
            currency: spend.currency,
            triggerRunId: e.run_id || null, // '': a re-evaluation after a settings change, no run
            topCustomers: topOf(t.month.customers),
            topFeatures: [],
          }),
        );
    }
    for (const r of out) soloIncident(r);
    if (this.guard && settings.budgets.some((b) => b.blockAt100 === true)) {
      const t = this.teams.get(spend.team);
      if (t) {
        const holds = (t.holds ??= dict<GuardHold>());
        const now = this.guard.now();
        for (const r of out) {
          const c = budgetHold(r, settings.budgets, holds, now);
          if (c) controls.push(c);
        }
        if (!Object.keys(holds).length) delete t.holds;
      }
    }
    return out;
  }

  /** Whether the sweep has work: a block held whose period has ended or whose budget no longer blocks. */
  hasDue(now: number): boolean {
    for (const t of this.teams.values())
      if (t.holds && anyDue(t.holds, now, this.settingsOf(t.team))) return true;
    return false;
  }

  /** The wall-clock sweep: budget blocks whose period has ended (or that no longer block) are lifted, a tombstone each. */
  sweep(changed: Set<TeamLedgerKey>, controls: ControlRecord[]): void {
    if (!this.guard) return;
    const now = this.guard.now();
    for (const t of this.teams.values()) {
      if (!t.holds) continue;
      const due = dueHolds(t.holds, now, this.settingsOf(t.team));
      if (!due.length) continue;
      for (const [key, h] of due) if (h.control) controls.push({ key, value: null });
      if (!Object.keys(t.holds).length) delete t.holds;
      changed.add(TeamDetector.key(t.team));
    }
  }

  private ledger(spend: TeamSpend, at: number, tz: string): TeamLedger {
    let t = this.teams.get(spend.team);
    if (!t) {
      t = {
        team: spend.team,
        currency: spend.currency,
        day: { ...dayWindow(at, tz), spendNanos: 0, customers: dict() },
        month: { ...monthWindow(at, tz), spendNanos: 0, customers: dict() },
        tracked: dict(),
      };
      this.teams.set(spend.team, t);
    }
    return t;
  }
}
