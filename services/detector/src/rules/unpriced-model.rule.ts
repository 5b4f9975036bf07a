import type { Evaluation } from '../core/anomaly';

export interface UnpricedInput {
  team: string;
  agentId: string;
  provider: string;
  model: string;
  dayStart: number;
  dayEnd: number;
  runsToday: number;
}

/** An agent using a model the rate card cannot price: its spend is unknown, never silently $0. One page per model per day. */
export class UnpricedModelRule {
  readonly name = 'unpriced_model' as const;

  evaluate(input: UnpricedInput): Evaluation {
    return {
      rule: this.name,
      team: input.team,
      agentId: input.agentId,
      subject: `${input.provider}/${input.model}`,
      windowStart: input.dayStart,
      windowEnd: input.dayEnd,
      finding: {
        severity: 'warning',
        observed: input.runsToday,
        threshold: 1,
        summary:
          `${input.agentId} is using ${input.model} (${input.provider}), which has no price on the rate card: ` +
          `${input.runsToday} run(s) today with unknown cost. Add a rate card override.`,
        details: { unit: 'runs', model: input.model, provider: input.provider },
      },
    };
  }
}
