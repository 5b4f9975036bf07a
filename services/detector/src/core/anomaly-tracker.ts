import {
  dedupeKey,
  severityRank,
  type Anomaly,
  type AnomalyState,
  type Contributor,
  type Evaluation,
  type Finding,
  type RuleName,
  type Severity,
} from './anomaly';
import { isEmpty } from './dict';

/** The state kept per dedupe key: what was last emitted, so a condition pages once and escalates or resolves. */
export interface TrackedAnomaly {
  key: string;
  rule: RuleName;
  team: string;
  agentId: string | null;
  windowStart: number;
  windowEnd: number;
  severity: Severity;
  startedAt: number;
  seq: number;
  /** False while the condition has only been seen in late data: the first live sighting still pages. */
  paged: boolean;
  last: Finding;
  currency: string | null;
}

export interface EmitContext {
  at: number;
  late: boolean;
  currency: string | null;
  topCustomers?: Contributor[];
  topFeatures?: Contributor[];
  triggerRunId?: string | null;
}

export type TrackedSet = Record<string, TrackedAnomaly>;

/**
 * Turns rule verdicts into anomaly records: a new condition fires once, a worse one escalates, a clear one (or one whose
 * window is over) resolves. Pure: the caller owns the tracked set and persists it.
 */
export class AnomalyTracker {
  apply(tracked: TrackedSet, evaluations: readonly (Evaluation | null)[], ctx: EmitContext): Anomaly[] {
    const out: Anomaly[] = [];
    // Most verdicts are "clear" with nothing tracked: no key to build (they were most of this method's time).
    let empty = isEmpty(tracked);
    for (const e of evaluations) {
      if (!e || (!e.finding && empty)) continue;
      const key = dedupeKey(e);
      const entry = tracked[key];
      if (e.finding) {
        const f = e.finding;
        if (!entry) {
          const created: TrackedAnomaly = {
            key,
            rule: e.rule,
            team: e.team,
            agentId: e.agentId,
            windowStart: e.windowStart,
            windowEnd: e.windowEnd,
            severity: f.severity,
            startedAt: ctx.at,
            seq: 0,
            paged: !ctx.late,
            last: f,
            currency: ctx.currency,
          };
          tracked[key] = created;
          empty = false;
          out.push(this.record(created, 'firing', f, ctx, ctx.late));
          continue;
        }
        entry.windowEnd = e.windowEnd;
        entry.last = f;
        if (severityRank(f.severity) > severityRank(entry.severity)) {
          entry.severity = f.severity;
          entry.seq++;
          entry.paged ||= !ctx.late;
          out.push(this.record(entry, 'escalated', f, ctx, ctx.late));
        } else if (!entry.paged && !ctx.late) {
          entry.paged = true;
          entry.seq++;
          out.push(this.record(entry, 'firing', f, ctx, false));
        }
      } else if (entry) {
        entry.seq++;
        delete tracked[key];
        out.push(this.resolution(entry, ctx));
      }
    }
    return out;
  }

  /** Resolves every tracked anomaly whose window ended at or before `at` (event time). */
  expire(tracked: TrackedSet, at: number, ctx: EmitContext): Anomaly[] {
    const out: Anomaly[] = [];
    for (const [key, entry] of Object.entries(tracked)) {
      if (entry.windowEnd > at) continue;
      entry.seq++;
      delete tracked[key];
      out.push(this.resolution(entry, { ...ctx, at }));
    }
    return out;
  }

  /** Resolves one tracked anomaly now (a guard decision lifted by the wall clock); null when it is not tracked. */
  resolve(tracked: TrackedSet, key: string, ctx: EmitContext): Anomaly | null {
    const entry = tracked[key];
    if (!entry) return null;
    entry.seq++;
    delete tracked[key];
    return this.resolution(entry, ctx);
  }

  private resolution(entry: TrackedAnomaly, ctx: EmitContext): Anomaly {
    const ended = entry.windowEnd <= ctx.at;
    const resolved = this.record(entry, 'resolved', entry.last, ctx, ctx.late);
    resolved.summary = `Resolved${ended ? ' (window over)' : ''}: ${entry.last.summary}`;
    return resolved;
  }

  private record(
    entry: TrackedAnomaly,
    state: AnomalyState,
    f: Finding,
    ctx: EmitContext,
    late: boolean,
  ): Anomaly {
    return {
      // the same condition may clear and fire again within its window: each firing is a record of its own
      anomaly_id: `${entry.key}@${entry.startedAt}#${entry.seq}`,
      dedupe_key: entry.key,
      rule: entry.rule,
      severity: entry.severity,
      state,
      team: entry.team,
      agent_id: entry.agentId,
      window_start: entry.windowStart,
      window_end: entry.windowEnd,
      observed: f.observed,
      threshold: f.threshold,
      baseline_mean: f.baselineMean ?? null,
      baseline_stddev: f.baselineStddev ?? null,
      zscore: f.zscore ?? null,
      currency: entry.currency ?? ctx.currency,
      cost_per_run_before_nanos: f.costPerRunBeforeNanos ?? null,
      cost_per_run_now_nanos: f.costPerRunNowNanos ?? null,
      top_customers: ctx.topCustomers ?? [],
      top_features: ctx.topFeatures ?? [],
      summary: f.summary,
      started_at: entry.startedAt,
      detected_at: ctx.at,
      late,
      details: { ...(f.details ?? {}) },
      trigger_run_id: ctx.triggerRunId ?? null,
      incident_id: null,
      incident_action: null,
      incident_signals: null,
    };
  }
}
