import type { Evaluation } from '../core/anomaly';
import { fixed } from '../core/context';
import type { DetectorSettings } from '@libs/team-settings';

export interface RunRateInput {
  team: string;
  agentId: string;
  minuteStart: number;
  runsThisMinute: number;
  /** Typical runs per active minute, or null while the agent is too new to know. */
  normPerMinute: number | null;
}

const HOUR = 3_600_000;

/**
 * Too many runs in one minute, against the agent's own norm or an absolute cap: a loop. The window is the clock hour,
 * so a loop pages once an hour at most and escalates when it reaches the cap.
 */
export class RunRateLoopRule {
  readonly name = 'run_rate_loop' as const;

  evaluate(input: RunRateInput, p: DetectorSettings['runRate']): Evaluation {
    const hourStart = Math.floor(input.minuteStart / HOUR) * HOUR;
    const base = {
      rule: this.name,
      team: input.team,
      agentId: input.agentId,
      subject: '',
      windowStart: hourStart,
      windowEnd: hourStart + HOUR,
    };
    const n = input.runsThisMinute;
    const relative =
      input.normPerMinute !== null
        ? Math.max(p.minRunsPerMinute, p.normMultiple * input.normPerMinute)
        : Infinity;
    const line = Math.min(relative, p.capPerMinute);
    if (n < line) return { ...base, finding: null };
    const norm = input.normPerMinute;
    return {
      ...base,
      finding: {
        severity: n >= p.capPerMinute ? 'critical' : 'error',
        observed: n,
        threshold: line,
        baselineMean: norm,
        summary:
          `${input.agentId} ran ${n} times in the minute from ${new Date(input.minuteStart).toISOString().slice(11, 16)} UTC` +
          (norm !== null
            ? `, ${fixed(n / Math.max(norm, 1e-9))}× its usual ${fixed(norm)} runs/minute`
            : '') +
          ` (a loop?).`,
        details: { unit: 'runs/minute', minute: new Date(input.minuteStart).toISOString() },
      },
    };
  }
}
