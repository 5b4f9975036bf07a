import {
  agentKey,
  validateRunEvent,
  type FieldError,
  type PricedRun,
  type RejectedRun,
  type RunEvent,
} from '@libs/contracts';
import type { RateCardResolver } from '@libs/pricing-core';

export interface RawRecord {
  value: RunEvent;
  raw: Buffer | null;
  topic: string;
  partition: number;
  offset: string;
}

export interface PricedBatch {
  priced: { key: string; value: PricedRun }[];
  rejected: { key: string | null; value: RejectedRun }[];
}

/** Validates, normalises and prices one batch of raw runs: pure, so it is tested and benchmarked without Kafka. */
export function priceBatch(
  records: readonly RawRecord[],
  card: RateCardResolver,
  now: number = Date.now(),
): PricedBatch {
  const out: PricedBatch = { priced: [], rejected: [] };
  for (const record of records) {
    const validated = validateRunEvent(record.value, now);
    let errors: FieldError[] | null = validated.ok ? null : validated.errors;
    if (validated.ok) {
      const run = validated.run;
      const outcome = card.price(run);
      if (outcome.ok) {
        const { result } = outcome;
        const team = run.team ?? '_';
        out.priced.push({
          key: agentKey(run.team, run.agent_id),
          value: {
            run,
            team,
            provider: result.provider,
            price_status: result.status,
            currency: result.currency,
            uncached_input_tokens: result.tokens.uncachedInput,
            cache_read_tokens: result.tokens.cacheRead,
            cache_write_tokens: result.tokens.cacheWrite5m + result.tokens.cacheWrite1h,
            output_tokens: result.tokens.output,
            input_cost_nanos: result.costs.input,
            cache_read_cost_nanos: result.costs.cacheRead,
            cache_write_cost_nanos: result.costs.cacheWrite,
            output_cost_nanos: result.costs.output,
            total_cost_nanos: result.costs.total,
            rate_card_id: result.row?.id ?? null,
            rate_card_version: result.row?.version ?? null,
            price_tier: result.tier,
            priced_at: now,
          },
        });
        continue;
      }
      errors = outcome.errors;
    }
    const v = record.value as Partial<RunEvent>;
    out.rejected.push({
      key: typeof v.agent_id === 'string' ? agentKey(v.team ?? null, v.agent_id) : null,
      value: {
        run_id: typeof v.run_id === 'string' ? v.run_id : null,
        agent_id: typeof v.agent_id === 'string' ? v.agent_id : null,
        team: typeof v.team === 'string' ? v.team : null,
        reason: 'validation_failed',
        errors: errors ?? [],
        original: record.raw ?? Buffer.alloc(0),
        content_type: 'application/vnd.confluent.avro',
        source: 'kafka',
        source_topic: record.topic,
        source_partition: record.partition,
        source_offset: record.offset,
        rejected_at: now,
      },
    });
  }
  return out;
}
