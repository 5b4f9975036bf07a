import type { PricedRun, RunEvent } from '@libs/contracts';

/** A valid run event (Avro shape, epoch-ms times) with every optional field empty; tests override what they need. */
export function runEvent(over: Partial<RunEvent> = {}): RunEvent {
  const finished = over.finished_at ?? Date.UTC(2026, 5, 9, 10);
  return {
    run_id: `run-${finished}`,
    agent_id: 'agent-a',
    team: null,
    model: 'gpt-4o',
    provider: null,
    input_tokens: 1000,
    output_tokens: 100,
    cache_read_tokens: null,
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
    started_at: finished - 1000,
    finished_at: finished,
    status: 'success',
    customer_id: null,
    feature: null,
    cost_centre: null,
    session_id: null,
    tool: null,
    parent_run_id: null,
    quality_score: null,
    tags: {},
    received_at: null,
    source: null,
    ...over,
  };
}

/** A priced run whose whole cost is `costNanos` of input, for storage and API tests that need known amounts. */
export function pricedRun(run: RunEvent, costNanos: number): PricedRun {
  return {
    run,
    team: run.team ?? '_',
    provider: run.provider ?? 'openai',
    price_status: 'priced',
    currency: 'USD',
    uncached_input_tokens: run.input_tokens,
    cache_read_tokens: 0,
    cache_write_tokens: 0,
    output_tokens: run.output_tokens,
    input_cost_nanos: costNanos,
    cache_read_cost_nanos: 0,
    cache_write_cost_nanos: 0,
    output_cost_nanos: 0,
    total_cost_nanos: costNanos,
    rate_card_id: 'test',
    rate_card_version: 'test',
    price_tier: null,
    priced_at: run.finished_at,
  };
}
