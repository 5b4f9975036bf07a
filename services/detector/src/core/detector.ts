import { agentKey, type AgentStats, type AgentStatsBucket } from '@libs/contracts';
import { excessFloor, type DetectorSettings } from '@libs/team-settings';
import type { TeamDailyLookup } from './team-daily';
import { dedupeKey, type Anomaly, type Contributor, type Evaluation } from './anomaly';
import { AnomalyTracker, type EmitContext, type TrackedSet } from './anomaly-tracker';
import { asDict, dict, isEmpty } from './dict';
import { joinIncident, type OpenIncident } from './incidents';
import type { AgentDayContext, DayTotals } from './context';
import { anyDue, budgetHold, dueHolds, judgeGuard, type ControlRecord, type GuardHold } from './guard';
import { SpendZScoreRule } from '../rules/spend-zscore.rule';
import { CostPerRunJumpRule } from '../rules/cost-per-run-jump.rule';
import { CostPerRunDriftRule } from '../rules/cost-per-run-drift.rule';
import { PromptCreepRule } from '../rules/prompt-creep.rule';
import { CostPerSuccessClimbRule } from '../rules/cost-per-success.rule';
import { UnattributedSpendRule } from '../rules/unattributed-spend.rule';
import { RunRateLoopRule } from '../rules/run-rate-loop.rule';
import { ChildRunLoopRule } from '../rules/child-run-loop.rule';
import { SessionOutlierRule } from '../rules/session-outlier.rule';
import { UnpricedModelRule } from '../rules/unpriced-model.rule';
import { BudgetRule } from '../rules/budget.rule';

/** What the detector keeps for an agent: its open incidents. An agent without one is not kept at all. */
export interface AgentIncidents {
  team: string;
  agentId: string;
  tracked: TrackedSet;
  /**
   * Session incidents resolved because their window ended (the session idle), by dedupe key, with that end: the
   * aggregator lists the session once more when it closes it, with the same figures, and that must not page again.
   */
  ended?: Record<string, number>;
  /** The incident its open signals share (absent while none is open). */
  incident?: OpenIncident;
  /** Guard decisions in force for the agent (its rules' and its agent budgets'), by control key. */
  holds?: Record<string, GuardHold>;
}

/** The guard's part: the wall clock its decisions lapse by. Absent (backtests, benchmarks): guard rules are not judged. */
export interface GuardOptions {
  now: () => number;
}

/** Changelog keys: `agent:` + the agent key (`<team>/<agent_id>`), JSON AgentIncidents; null once none is open. */
export type IncidentKey = `agent:${string}`;

/** A team's settings, or an agent's where it has its own (per-agent overrides). */
export type SettingsLookup = (team: string, agentId?: string) => DetectorSettings;

/** How long an ended session incident is remembered, past its window (the aggregator's idle plus grace, and more). */
const ENDED_KEPT_MS = 6 * 3_600_000;

const totalsOf = (b: AgentStatsBucket): DayTotals => ({
  start: b.start,
  end: b.end,
  spendNanos: b.spend_nanos,
  runs: b.runs,
  successful: b.successful_runs,
  unattributedNanos: b.unattributed_spend_nanos,
  unpricedRuns: b.unpriced_runs,
  inputTokens: b.input_tokens,
});

/**
 * The rules over agent-stats, for the agents of one partition of burnrate.agent-stats.v1. The aggregator owns every
 * per-agent figure (day buckets, baselines, sessions, minutes, parents, recent costs, month spend; one engine, one
 * statistics implementation); each record is the state after a committed batch of the agent's runs, and the rules
 * judge it. What is kept here is only what the rules decided: each agent's open incidents (firing / escalated), so
 * that a condition pages once, escalates and resolves. A late update (corrected history) resolves what it ends but
 * never pages.
 */
export class Detector {
  readonly agents = new Map<string, AgentIncidents>();
  private readonly tracker = new AnomalyTracker();
  private readonly zscore = new SpendZScoreRule();
  private readonly jump = new CostPerRunJumpRule();
  private readonly drift = new CostPerRunDriftRule();
  private readonly creep = new PromptCreepRule();
  private readonly perSuccess = new CostPerSuccessClimbRule();
  private readonly unattributed = new UnattributedSpendRule();
  private readonly runRate = new RunRateLoopRule();
  private readonly childRuns = new ChildRunLoopRule();
  private readonly session = new SessionOutlierRule();
  private readonly unpriced = new UnpricedModelRule();
  private readonly budget = new BudgetRule();

  constructor(
    private readonly settingsOf: SettingsLookup,
    /** The teams' mean daily spend, which can lower the z-score rule's floor (min_excess_team_share). */
    private readonly teamDailyOf: TeamDailyLookup = () => null,
    private readonly guard: GuardOptions | null = null,
  ) {}

  /** Applies one changelog record (its parsed JSON value; null deletes). */
  restore(key: string, value: AgentIncidents | null): void {
    if (!key.startsWith('agent:')) return;
    const id = key.slice('agent:'.length);
    if (value === null) this.agents.delete(id);
    else
      this.agents.set(id, {
        ...value,
        tracked: asDict(value.tracked),
        ...(value.ended && { ended: asDict(value.ended) }),
        ...(value.holds && { holds: asDict(value.holds) }),
      });
  }

  /** The changelog value of `key` now: JSON, or null when the agent has no open incident. */
  persisted(key: IncidentKey): string | null {
    const a = this.agents.get(key.slice('agent:'.length));
    return a ? JSON.stringify(a) : null;
  }

  /**
   * One agent-stats record; the agents whose incidents it changed are added to `changed`, the guard decisions it took
   * (AgentControls, tombstones) to `controls`.
   */
  onStats(s: AgentStats, changed: Set<IncidentKey>, controls: ControlRecord[] = []): Anomaly[] {
    const sig = s.signals;
    if (!sig) return []; // written before the aggregator carried the rule inputs
    const id = agentKey(s.team, s.agent_id);
    const settings = this.settingsOf(s.team, s.agent_id);
    const at = sig.last_run_at;
    const kept = this.agents.get(id);
    const a = kept ?? { team: s.team, agentId: s.agent_id, tracked: dict() };
    // (an agent without open incidents is most records: nothing to serialise to tell whether it changed)
    const before = kept && JSON.stringify([a.tracked, a.ended, a.incident, a.holds]);
    // the signals open before this record (most agents have none kept: nothing to copy)
    const openBefore = kept ? Object.keys(a.tracked) : [];
    // Judged first, then what the latest run leaves behind resolved: a condition whose window the batch both showed
    // and ended (a session that grew and then went idle within it) pages, and resolves, instead of going unseen.
    const evals = s.late ? [] : this.judge(s, settings, a);
    const anomalies: Anomaly[] = [];
    const guarding =
      this.guard !== null &&
      !s.late &&
      (a.holds !== undefined ||
        settings.guard.rules.length > 0 ||
        settings.budgets.some((b) => b.blockAt100 === true));
    if (guarding) {
      const now = this.guard!.now();
      const holds = (a.holds ??= dict<GuardHold>());
      anomalies.push(...this.lift(a, now, settings, controls));
      const guard = judgeGuard(s, settings.guard.rules, holds, now);
      evals.push(...guard.evals);
      controls.push(...guard.controls);
    }
    if (!s.late) anomalies.push(...this.tracker.apply(a.tracked, evals, this.emit(s)));
    if (guarding && a.holds) {
      const now = this.guard!.now();
      for (const r of anomalies) {
        const c = budgetHold(r, settings.budgets, a.holds, now);
        if (c) controls.push(c);
      }
    }
    const expired = this.tracker.expire(a.tracked, at, { at, late: s.late, currency: s.currency });
    for (const r of expired)
      if (r.rule === 'session_outlier') (a.ended ??= dict<number>())[r.dedupe_key] = r.window_end;
    anomalies.push(...expired);
    if (a.holds && isEmpty(a.holds)) delete a.holds;
    if (anomalies.length) {
      const incident = joinIncident(id, a.incident, new Set(openBefore), anomalies);
      if (incident) a.incident = incident;
      else delete a.incident;
    }
    if (a.ended) {
      // the aggregator closes a session within its idle time plus the grace period (hours): past that, forgotten
      for (const [k, end] of Object.entries(a.ended)) if (end < at - ENDED_KEPT_MS) delete a.ended[k];
      if (isEmpty(a.ended)) delete a.ended;
    }
    this.keepOrForget(id, a, kept !== undefined, before, changed);
    return anomalies;
  }

  private keepOrForget(
    id: string,
    a: AgentIncidents,
    wasKept: boolean,
    before: string | undefined,
    changed: Set<IncidentKey>,
  ): void {
    const key: IncidentKey = `agent:${id}`;
    const keep = !isEmpty(a.tracked) || a.ended !== undefined || a.holds !== undefined;
    if (keep !== wasKept) {
      if (keep) this.agents.set(id, a);
      else this.agents.delete(id);
      changed.add(key);
    } else if (keep && before !== JSON.stringify([a.tracked, a.ended, a.incident, a.holds])) changed.add(key);
  }

  /** Whether the sweep has work: a decision held whose `until` has passed or that the settings no longer make. */
  hasDue(now: number): boolean {
    for (const a of this.agents.values())
      if (a.holds && anyDue(a.holds, now, this.settingsOf(a.team, a.agentId))) return true;
    return false;
  }

  /**
   * The wall-clock sweep: the guard decisions whose `until` has passed are lifted (a tombstone for each published
   * AgentControl) and a rule's anomaly resolved, joining the agent's incident. A blocked agent sends no runs, so no
   * agent-stats record would ever do it.
   */
  sweep(changed: Set<IncidentKey>, controls: ControlRecord[]): Anomaly[] {
    if (!this.guard) return [];
    const now = this.guard.now();
    const out: Anomaly[] = [];
    for (const [id, a] of [...this.agents]) {
      if (!a.holds) continue;
      const before = JSON.stringify([a.tracked, a.ended, a.incident, a.holds]);
      const openBefore = new Set(Object.keys(a.tracked));
      const lifted = this.lift(a, now, this.settingsOf(a.team, a.agentId), controls);
      if (!lifted.length && before === JSON.stringify([a.tracked, a.ended, a.incident, a.holds])) continue;
      if (isEmpty(a.holds)) delete a.holds;
      if (lifted.length) {
        const incident = joinIncident(id, a.incident, openBefore, lifted);
        if (incident) a.incident = incident;
        else delete a.incident;
      }
      out.push(...lifted);
      this.keepOrForget(id, a, true, before, changed);
    }
    return out;
  }

  /** Lifts the agent's holds due by `now`: tombstones to `controls`, the resolutions of their rule anomalies returned. */
  private lift(
    a: AgentIncidents,
    now: number,
    settings: DetectorSettings,
    controls: ControlRecord[],
  ): Anomaly[] {
    const out: Anomaly[] = [];
    for (const [key, h] of dueHolds(a.holds ?? {}, now, settings)) {
      if (h.control) controls.push({ key, value: null });
      if (h.source !== 'rule') continue;
      const r = this.tracker.resolve(a.tracked, h.dedupeKey, { at: now, late: false, currency: null });
      if (r) out.push(r);
    }
    return out;
  }

  /**
   * The verdicts to apply. A session's listing is judged while its window is open; one whose window is over is judged
   * only when the aggregator lists it closed (its final figures), and not at all if its incident already ended.
   */
  private judge(s: AgentStats, settings: DetectorSettings, a: AgentIncidents): (Evaluation | null)[] {
    const at = s.signals!.last_run_at;
    const { evals, closedSessions } = this.evaluate(s, settings);
    return evals.filter((e) => {
      if (!e || e.rule !== 'session_outlier' || e.windowEnd > at) return true;
      if (!closedSessions.has(e)) return false;
      const key = dedupeKey(e);
      if (a.ended && key in a.ended) {
        delete a.ended[key];
        return false;
      }
      return true;
    });
  }

  private emit(s: AgentStats): EmitContext {
    const sig = s.signals!;
    return {
      at: sig.last_run_at,
      late: false,
      currency: s.currency,
      triggerRunId: sig.last_run_id,
      topCustomers: sig.top_customers as Contributor[],
      topFeatures: sig.top_features as Contributor[],
    };
  }

  /** Every rule's verdict on the record, and which came from sessions the aggregator lists as closed. */
  private evaluate(
    s: AgentStats,
    settings: DetectorSettings,
  ): { evals: (Evaluation | null)[]; closedSessions: Set<Evaluation> } {
    const closedSessions = new Set<Evaluation>();
    const sig = s.signals!;
    const team = s.team;
    const agentId = s.agent_id;
    const evals: (Evaluation | null)[] = [];
    // a rule the team switched off is not evaluated (the budget rule cannot be: budgets are explicit)
    if (settings.runRate.enabled)
      for (const m of sig.minutes)
        evals.push(
          this.runRate.evaluate(
            { team, agentId, minuteStart: m.start, runsThisMinute: m.runs, normPerMinute: sig.minute_norm },
            settings.runRate,
          ),
        );
    if (settings.childRuns.enabled)
      for (const p of sig.parents)
        evals.push(
          this.childRuns.evaluate(
            {
              team,
              agentId,
              at: sig.last_run_at,
              parentRunId: p.parent_run_id,
              children: p.children,
              normPerParent: sig.child_norm,
            },
            settings.childRuns,
          ),
        );
    for (const session of settings.session.enabled ? s.sessions.changed : []) {
      const e = this.session.evaluate(
        {
          team,
          agentId,
          currency: s.currency,
          sessionId: session.session_key,
          sessionStart: session.started_at,
          lastActivity: session.last_at,
          costNanos: session.cost_nanos,
          runs: session.runs,
          medianNanos: s.sessions.median_cost_nanos ?? 0,
          sampleSize: s.sessions.closed,
        },
        settings.session,
      );
      if (e && session.closed) closedSessions.add(e);
      evals.push(e);
    }
    if (settings.unpriced.enabled)
      for (const u of sig.unpriced_models)
        evals.push(
          this.unpriced.evaluate({
            team,
            agentId,
            provider: u.provider,
            model: u.model,
            dayStart: s.day.start,
            dayEnd: s.day.end,
            runsToday: u.runs_today,
          }),
        );
    const ctx = this.dayContext(s);
    const minExcess = excessFloor(settings.zscore, this.teamDailyOf(team));
    if (settings.zscore.enabled) evals.push(this.zscore.evaluate(ctx, settings.zscore, minExcess));
    if (settings.costPerRun.enabled) evals.push(this.jump.evaluate(ctx, settings.costPerRun, minExcess));
    if (settings.costPerRunDrift.enabled)
      evals.push(
        this.drift.evaluate(
          ctx,
          settings.costPerRunDrift,
          settings.costPerRun.ratio,
          s.timezone,
          sig.history_days,
        ),
      );
    if (settings.costPerSuccess.enabled)
      evals.push(this.perSuccess.evaluate(ctx, settings.costPerSuccess, minExcess));
    if (settings.unattributed.enabled) evals.push(this.unattributed.evaluate(ctx, settings.unattributed));
    if (settings.promptCreep.enabled)
      evals.push(
        this.creep.evaluate(
          ctx,
          settings.promptCreep,
          settings.costPerRun.ratio,
          s.timezone,
          sig.history_days,
        ),
      );
    for (const b of settings.budgets) {
      if (b.scope !== 'agent' || b.subject !== agentId) continue;
      const w =
        b.period === 'day'
          ? { start: s.day.start, end: s.day.end, spend: s.day.spend_nanos }
          : { start: sig.month.start, end: sig.month.end, spend: sig.month.spend_nanos };
      evals.push(
        this.budget.evaluate({
          team,
          agentId,
          budget: b,
          windowStart: w.start,
          windowEnd: w.end,
          spentNanos: w.spend,
          currency: s.currency,
        }),
      );
    }
    return { evals, closedSessions };
  }

  /** The day-level view the stats rules read, from the record. */
  dayContext(s: AgentStats): AgentDayContext {
    const sig = s.signals!;
    return {
      team: s.team,
      agentId: s.agent_id,
      currency: s.currency,
      at: sig.last_run_at,
      today: totalsOf(s.day),
      yesterday: sig.yesterday ? totalsOf(sig.yesterday) : null,
      baseline: {
        days: s.baseline.days,
        spendMean: s.baseline.spend_mean_nanos,
        spendStddev: s.baseline.spend_stddev_nanos,
        expected:
          s.baseline.spend_expected_nanos != null && s.baseline.spend_expected_stddev_nanos != null
            ? {
                spend: s.baseline.spend_expected_nanos,
                stddev: s.baseline.spend_expected_stddev_nanos,
                factor: s.baseline.day_factor ?? 1,
                trendPerDay: s.baseline.trend_nanos_per_day ?? 0,
              }
            : null,
        costPerRunMean: sig.baseline_cost_per_run_nanos,
        costPerSuccessMean: sig.baseline_cost_per_success_nanos,
        unattributedMean: sig.baseline_unattributed_mean_nanos,
      },
      recentCostPerRun: sig.recent_cost_per_run,
      referenceCostPerRun: sig.reference_cost_per_run,
      // absent in records written before the aggregator kept them
      inputTokensPerRun: sig.input_tokens_per_run ?? null,
      referenceInput: sig.reference_input_tokens_per_run
        ? {
            tokensPerRun: sig.reference_input_tokens_per_run.input_tokens_per_run,
            costPerRunNanos: sig.reference_input_tokens_per_run.cost_per_run_nanos,
            days: sig.reference_input_tokens_per_run.days,
          }
        : null,
      topCustomers: sig.top_customers as Contributor[],
      topFeatures: sig.top_features as Contributor[],
    };
  }
}
