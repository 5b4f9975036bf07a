import type { Kafka } from 'kafkajs';
import { topicsIn, type PricedRun, type RejectedRun, type RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { runEvent } from './support/fixtures';
import { startService, type ServiceProcess, migrated } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const ns = `t${uid()}`;
const T = topicsIn(ns);

function raw(i: number, over: Partial<RunEvent> = {}): RunEvent {
  const finished = Date.UTC(2026, 5, 9, 9, 0, 0) + i * 1000;
  return runEvent({
    run_id: `${ns}-${i}`,
    agent_id: `agent-${i % 5}`,
    team: 'support',
    model: 'claude-sonnet-4-5-20250929',
    provider: 'anthropic',
    input_tokens: 2000,
    output_tokens: 1000,
    cache_read_tokens: 10_000,
    started_at: finished - 3000,
    finished_at: finished,
    customer_id: 'acme',
    source: 'kafka',
    ...over,
  });
}

describe('pricing service (own process, transactional, real stack)', () => {
  let kafka: Kafka;
  let serde: AvroSerde;
  let svc: ServiceProcess | undefined;
  const env = {
    BURNRATE_TOPIC_NAMESPACE: ns,
    CONSUMER_GROUP: `pricing-${ns}`,
    INSTANCE_ID: 'test',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
  };

  beforeAll(async () => {
    await migrated();
    kafka = testKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(T));
    await admin.disconnect();
    serde = await AvroSerde.create(config, [T.runsRaw, T.runsPriced, T.runsRejected]);
  });

  afterAll(async () => {
    await svc?.stop();
  });

  it('prices valid runs, keeps unknown models unpriced, rejects invalid ones — each exactly once, across a crash', async () => {
    const producer = new BatchProducer(kafka);
    await producer.connect();
    const valid = Array.from({ length: 400 }, (_, i) => raw(i));
    const unknown = Array.from({ length: 5 }, (_, i) =>
      raw(1000 + i, { model: `homegrown-${ns}`, provider: null, cache_read_tokens: null }),
    );
    const invalid = [
      raw(2000, { finished_at: Date.UTC(2026, 5, 9) - 10_000, started_at: Date.UTC(2026, 5, 9) }), // finishes before it starts
      raw(2001, { status: 'exploded' as RunEvent['status'] }), // Avro carries any string; the contract does not
      raw(2002, { model: 'gpt-4o', provider: 'openai', input_tokens: 100, cache_read_tokens: 5000 }), // cache > prompt for OpenAI
    ];
    const all = [...valid, ...unknown, ...invalid];
    // Many produce requests: many record batches, so the crash lands between commits.
    for (let i = 0; i < all.length; i += 20) {
      await producer.send(
        all.slice(i, i + 20).map((r) => ({
          topic: T.runsRaw.name,
          key: `support/${r.agent_id}`,
          value: serde.encode(T.runsRaw, r),
        })),
      );
    }
    await producer.disconnect();

    svc = await startService('pricing', 19101, env);
    await new Promise((r) => setTimeout(r, 1500)); // let it get part of the way
    await svc.stop('SIGKILL');
    svc = await startService('pricing', 19101, env);

    const priced = await readTopic<PricedRun>(kafka, T.runsPriced, {
      expected: valid.length + unknown.length,
      serde,
      timeoutMs: 90_000,
      settleMs: 2500,
    });
    const rejected = await readTopic<RejectedRun>(kafka, T.runsRejected, {
      expected: invalid.length,
      serde,
      settleMs: 1000,
    });

    const ids = priced.map((p) => p.value.run.run_id);
    expect(ids).toHaveLength(valid.length + unknown.length);
    expect(new Set(ids).size).toBe(ids.length);

    // claude-sonnet-4-5 from the seeded dataset: 2,000 × $3/M + 10,000 × $0.30/M + 1,000 × $15/M = $0.024
    const one = priced.find((p) => p.value.run.run_id === `${ns}-7`)!.value;
    expect(one).toMatchObject({
      price_status: 'priced',
      provider: 'anthropic',
      currency: 'USD',
      uncached_input_tokens: 2000,
      cache_read_tokens: 10_000,
      input_cost_nanos: 6_000_000,
      cache_read_cost_nanos: 3_000_000,
      output_cost_nanos: 15_000_000,
      total_cost_nanos: 24_000_000,
    });
    expect(one.rate_card_id).toMatch(/^genai:anthropic:claude-sonnet-4-5/);
    expect(priced.find((p) => p.key === 'support/agent-2')).toBeDefined();

    const unpriced = priced.filter((p) => p.value.price_status === 'unpriced');
    expect(unpriced.map((p) => p.value.run.run_id).sort()).toEqual(unknown.map((r) => r.run_id).sort());
    expect(unpriced.every((p) => p.value.total_cost_nanos === 0 && p.value.rate_card_id === null)).toBe(true);
    // Pricing writes only to Kafka: the recorder counts unpriced models from the runs it stores, each once.
    const pool = createPool(await migrated(), 1);
    try {
      const { rows } = await pool.query('select * from unpriced_models where model = $1', [
        `homegrown-${ns}`,
      ]);
      expect(rows).toEqual([]);
    } finally {
      await pool.end();
    }

    expect(rejected.map((r) => r.value.run_id).sort()).toEqual(invalid.map((r) => r.run_id).sort());
    const byId = Object.fromEntries(rejected.map((r) => [r.value.run_id, r.value]));
    expect(byId[`${ns}-2000`].errors).toEqual([{ field: 'finished_at', message: 'is before started_at' }]);
    expect(byId[`${ns}-2001`].errors[0].field).toBe('status');
    expect(byId[`${ns}-2002`].errors[0].field).toBe('cache_read_tokens');
    expect(byId[`${ns}-2002`]).toMatchObject({ source: 'kafka', source_topic: T.runsRaw.name });
    expect(byId[`${ns}-2002`].original.equals(serde.encode(T.runsRaw, invalid[2]))).toBe(true);
  });
});

describe('examples/publish-runs.ts (a producer on Kafka, outside burnrate)', () => {
  it('publishes Avro runs with the registered schema, keyed by agent, readable by burnrate', async () => {
    const { execFileSync } = await import('node:child_process');
    const { resolve } = await import('node:path');
    const kafka = testKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(T));
    await admin.disconnect();
    const serde = await AvroSerde.create(config, [T.runsRaw, T.runsPriced]);
    const prefix = `example-${uid()}`;
    const out = execFileSync(
      process.execPath,
      ['-r', '@swc-node/register', resolve(__dirname, '../examples/publish-runs.ts')],
      {
        env: { ...process.env, TOPIC: T.runsRaw.name, COUNT: '7', RUN_PREFIX: prefix },
      },
    ).toString();
    expect(out).toMatch(/published 7 runs/);
    const raw = (await readTopic<RunEvent>(kafka, T.runsRaw, { expected: 1, serde })).filter((r) =>
      r.value.run_id.startsWith(prefix),
    );
    expect(raw).toHaveLength(7);
    expect(raw.every((r) => r.key === 'support/research-agent')).toBe(true);
  });
});
