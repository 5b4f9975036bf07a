import { HttpException } from '@nestjs/common';
import type { EachBatchPayload } from 'kafkajs';
import type { Principal } from '@libs/auth';
import { KafkaService, SerdeError } from '@libs/kafka';
import { Health, JsonLogger, Metrics } from '@libs/observability';
import { RunsService } from '../runs.service';
import type { OtelSpan, OtelSpanBatch } from './genai-span';
import { OtelTraceConsumer } from './otel-trace.consumer';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const START = Date.UTC(2026, 5, 9, 9, 14, 2);

function span(spanId: string, parent: string | null, fields: Partial<OtelSpan>): OtelSpan {
  return {
    span_id: spanId,
    parent_span_id: parent,
    kind: 'other',
    start_time: START,
    end_time: START + 1000,
    error: false,
    service_name: 'bot',
    agent_name: null,
    tool_name: null,
    model: null,
    provider: null,
    input_tokens: null,
    output_tokens: null,
    cache_read_tokens: null,
    cache_write_tokens: null,
    conversation_id: null,
    customer_id: null,
    feature: null,
    cost_centre: null,
    resource_customer_id: null,
    resource_feature: null,
    resource_cost_centre: null,
    ...fields,
  };
}

const AGENT = 'a000000000000001';
const MODEL = 'b000000000000002';
const modelBatch: OtelSpanBatch = {
  team: 'support',
  trace_id: TRACE,
  received_at: START,
  spans: [span(MODEL, AGENT, { kind: 'model', model: 'gpt-4o', input_tokens: 10, output_tokens: 1 })],
};
const agentBatch: OtelSpanBatch = {
  ...modelBatch,
  spans: [span(AGENT, null, { kind: 'agent', agent_name: 'planner' })],
};

describe(OtelTraceConsumer.name, () => {
  let sut: OtelTraceConsumer;
  let ingested: { runs: { run_id: string; parent_run_id: string | null }[]; principal: Principal }[];
  let ingest: (runs: unknown, principal: Principal) => Promise<unknown>;
  let commits: { partition: number; offset: string }[][];
  let deadLetters: unknown[];
  let metrics: Metrics;

  beforeEach(() => {
    ingested = [];
    commits = [];
    deadLetters = [];
    ingest = async (runs, principal) => {
      ingested.push({ runs: runs as never, principal });
      return {};
    };
    metrics = new Metrics('spec');
    const kafka = {
      serde: {
        decodeMany: async (_topic: unknown, values: (Buffer | null)[]) =>
          values.map((v) => (v ? (JSON.parse(v.toString()) as OtelSpanBatch) : new SerdeError('not Avro'))),
      },
      producer: { send: async (records: unknown[]) => void deadLetters.push(...records) },
    } as unknown as KafkaService;
    const runs = { ingest: (body: unknown, p: Principal) => ingest(body, p) } as unknown as RunsService;
    sut = new OtelTraceConsumer(
      {
        OTEL_TRACE_HOLD_MS: 5000,
        OTEL_TRACE_MAX_HOLD_MS: 30000,
        OTEL_TRACE_MAX_SPANS: 1000,
        OTEL_CONSUMER_GROUP: 'g',
        MAX_BATCH_RUNS: 1000,
        KAFKA_SESSION_TIMEOUT_MS: 30000,
      },
      kafka,
      runs,
      new JsonLogger({}, 'error', () => undefined),
      metrics,
      new Health(),
    );
    Object.assign(sut, {
      consumer: {
        commitOffsets: async (offsets: { partition: number; offset: string }[]) =>
          void commits.push(offsets.map(({ partition, offset }) => ({ partition, offset }))),
      },
    });
  });

  const consume = (partition: number, messages: [offset: string, value: OtelSpanBatch | null][]) =>
    (sut as unknown as { onBatch(p: EachBatchPayload): Promise<void> }).onBatch({
      batch: {
        topic: 'burnrate.otel-spans.v1',
        partition,
        messages: messages.map(([offset, value]) => ({
          offset,
          key: Buffer.from(`support/${TRACE}`),
          value: value && Buffer.from(JSON.stringify(value)),
          headers: {},
        })),
      },
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload);

  it('holds a model span until its agent arrives in a later record, then publishes both runs as the team', async () => {
    const now = Date.now();
    await consume(0, [['7', modelBatch]]);
    await sut.releaseDue(now + 1000);
    expect(ingested).toEqual([]);
    expect(commits).toEqual([[{ partition: 0, offset: '7' }]]); // nothing past the held record

    await consume(0, [['8', agentBatch]]);
    await sut.releaseDue(now + 10_000);

    expect(ingested).toHaveLength(1);
    expect(ingested[0].principal).toMatchObject({ team: 'support', role: 'team' });
    expect(ingested[0].runs.map((r) => [r.run_id, r.parent_run_id]).sort()).toEqual([
      [`${TRACE}-${AGENT}`, null],
      [`${TRACE}-${MODEL}`, `${TRACE}-${AGENT}`],
    ]);
    expect(commits.at(-1)).toEqual([{ partition: 0, offset: '9' }]);
  });

  it('keeps the trace held and the offset where it was while the runs cannot be published', async () => {
    const now = Date.now();
    await consume(2, [['40', modelBatch]]);
    ingest = () => Promise.reject(new HttpException('unavailable', 503));

    await sut.releaseDue(now + 10_000);
    expect(commits).toEqual([[{ partition: 2, offset: '40' }]]);

    ingest = async (runs, principal) => void ingested.push({ runs: runs as never, principal });
    await sut.releaseDue(now + 11_000);
    expect(ingested).toHaveLength(1);
    expect(ingested[0].runs.map((r) => r.parent_run_id)).toEqual([null]); // an orphan: its agent never came
    expect(commits.at(-1)).toEqual([{ partition: 2, offset: '41' }]);
    const orphans = await metrics.registry.getSingleMetric('burnrate_otel_orphan_runs_total')!.get();
    expect(orphans.values[0].value).toBe(1);
  });

  it('drops, counts and commits past a trace whose runs are refused for another reason, not to hold the partition', async () => {
    await consume(0, [['5', agentBatch]]);
    ingest = () => Promise.reject(new Error('a bug'));
    await sut.releaseDue(Date.now() + 10_000);
    expect(commits.at(-1)).toEqual([{ partition: 0, offset: '6' }]);
    const dropped = await metrics.registry.getSingleMetric('burnrate_otel_traces_dropped_total')!.get();
    expect(dropped.values[0].value).toBe(1);
  });

  it('dead-letters an undecodable record and commits past it', async () => {
    await consume(1, [
      ['3', null],
      ['4', agentBatch],
    ]);
    expect(deadLetters).toHaveLength(1);
    await sut.releaseDue(Date.now() + 10_000);
    expect(ingested).toHaveLength(1);
    expect(commits.at(-1)).toEqual([{ partition: 1, offset: '5' }]);
  });

  it('commits a trace without runs without publishing an empty batch', async () => {
    await consume(0, [['1', { ...agentBatch, spans: [span(AGENT, null, {})] }]]);
    await sut.releaseDue(Date.now() + 10_000);
    expect(ingested).toEqual([]);
    expect(commits.at(-1)).toEqual([{ partition: 0, offset: '2' }]);
  });
});
