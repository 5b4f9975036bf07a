import type { Evaluation } from '../core/anomaly';
import { money, fixed } from '../core/context';
import type { DetectorSettings } from '@libs/team-settings';

export interface SessionInput {
  team: string;
  agentId: string;
  currency: string;
  sessionId: string;
  sessionStart: number;
  lastActivity: number;
  costNanos: number;
  runs: number;
  /** Median cost of the agent's recent closed sessions and how many there were. */
  medianNanos: number;
  sampleSize: number;
}

/**
 * A session costing more than k× the agent's median session. The window is the session itself and ends when it has
 * been idle long enough to close, which resolves the anomaly.
 */
export class SessionOutlierRule {
  readonly name = 'session_outlier' as const;

  evaluate(input: SessionInput, p: DetectorSettings['session']): Evaluation | null {
    if (input.sampleSize < p.minSessions || input.medianNanos <= 0) return null;
    const base = {
      rule: this.name,
      team: input.team,
      agentId: input.agentId,
      subject: input.sessionId,
      windowStart: input.sessionStart,
      windowEnd: input.lastActivity + p.idleCloseMs,
    };
    const line = Math.max(p.medianMultiple * input.medianNanos, p.minCostNanos);
    if (input.costNanos < line) return { ...base, finding: null };
    const multiple = input.costNanos / input.medianNanos;
    return {
      ...base,
      finding: {
        severity: multiple >= 4 * p.medianMultiple ? 'error' : 'warning',
        observed: input.costNanos / 1e9,
        threshold: line / 1e9,
        baselineMean: input.medianNanos / 1e9,
        summary:
          `Session ${input.sessionId} of ${input.agentId} has cost ${money(input.costNanos, input.currency)} over ` +
          `${input.runs} runs, ${fixed(multiple)}× the agent's median session of ${money(input.medianNanos, input.currency)}.`,
        details: {
          unit: input.currency,
          session_id: input.sessionId,
          session_runs: String(input.runs),
          median_of_sessions: String(input.sampleSize),
        },
      },
    };
  }
}
