import type { Evaluation } from '../core/anomaly';
import { fixed } from '../core/context';
import type { DetectorSettings } from '@libs/team-settings';

export interface ChildRunInput {
  team: string;
  agentId: string;
  at: number;
  parentRunId: string;
  children: number;
  /** Typical children per parent run for this agent, or null while unknown. */
  normPerParent: number | null;
}

const HOUR = 3_600_000;

/** One parent run spawning far more child runs than the agent's norm (or a cap): a retry or recursion loop. */
export class ChildRunLoopRule {
  readonly name = 'child_run_loop' as const;

  evaluate(input: ChildRunInput, p: DetectorSettings['childRuns']): Evaluation {
    const hourStart = Math.floor(input.at / HOUR) * HOUR;
    const base = {
      rule: this.name,
      team: input.team,
      agentId: input.agentId,
      subject: '',
      windowStart: hourStart,
      windowEnd: hourStart + HOUR,
    };
    const norm = input.normPerParent;
    const relative = norm !== null ? Math.max(p.minChildren, p.normMultiple * norm) : Infinity;
    const line = Math.min(relative, p.capPerParent);
    if (input.children < line) return { ...base, finding: null };
    return {
      ...base,
      finding: {
        severity: input.children >= p.capPerParent ? 'critical' : 'error',
        observed: input.children,
        threshold: line,
        baselineMean: norm,
        summary:
          `Run ${input.parentRunId} of ${input.agentId} has spawned ${input.children} child runs` +
          (norm !== null
            ? `, ${fixed(input.children / Math.max(norm, 1e-9))}× the usual ${fixed(norm)}`
            : '') +
          ` (a retry or recursion loop?).`,
        details: { unit: 'child runs/parent', parent_run_id: input.parentRunId },
      },
    };
  }
}
