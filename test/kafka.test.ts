import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CompressionTypes, type Kafka } from 'kafkajs';
import { Topics, type TopicSpec } from '@libs/contracts';
import {
  CONTROL_HEADER,
  AvroSerde,
  BatchConsumer,
  BatchProducer,
  DLQ_HEADERS,
  TransientError,
  type ConsumedRecord,
  provisionTopics,
} from '@libs/kafka';
import type { Metrics } from '@libs/observability';
import { quietLogger, readTopic, testConfig, testKafka, testMetrics, uid } from './support/stack';

const config = testConfig();

function run(i: number, agent = 'agent-a'): Record<string, unknown> {
  return {
    run_id: `run-${i}`,
    agent_id: agent,
    team: 'support',
    model: 'gpt-4o',
    provider: 'openai',
    input_tokens: 1000 + i,
    output_tokens: 50,
    cache_read_tokens: null,
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
    started_at: 1_750_000_000_000 + i,
    finished_at: 1_750_000_001_000 + i,
    status: 'success',
    customer_id: i % 2 ? 'acme' : null,
    feature: null,
    cost_centre: null,
    session_id: null,
    tool: null,
    parent_run_id: null,
    quality_score: 0.9,
    tags: { env: 'test' },
    received_at: null,
    source: 'kafka',
  };
}

describe('libs/kafka against the real broker and registry', () => {
  let kafka: Kafka;
  const topic = (name: string): TopicSpec => ({ ...Topics.runsRaw, name: `test.${name}.${uid()}` });

  beforeAll(async () => {
    kafka = testKafka(config);
  });

  async function provision(...topics: TopicSpec[]): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, [...topics, Topics.deadLetter]);
    await admin.disconnect();
  }

  it('round-trips Avro records in the Confluent wire format, keyed, through the batching producer', async () => {
    const t = topic('roundtrip');
    await provision(t);
    const serde = await AvroSerde.create(config, [t]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    const runs = Array.from({ length: 50 }, (_, i) => run(i));
    // Concurrent callers: the producer gathers them into batches and settles each when acknowledged.
    await Promise.all(
      runs.map((r) =>
        producer.send([{ topic: t.name, key: `support/${r.agent_id}`, value: serde.encode(t, r) }]),
      ),
    );
    await producer.disconnect();

    const got = await readTopic<Record<string, unknown>>(kafka, t, { expected: 50, serde });
    expect(got).toHaveLength(50);
    expect(
      got
        .map((g) => g.value)
        .sort((a, b) => String(a.run_id).localeCompare(String(b.run_id), 'en', { numeric: true })),
    ).toEqual(runs);
    expect(new Set(got.map((g) => g.key))).toEqual(new Set(['support/agent-a']));
    expect(new Set(got.map((g) => g.partition)).size).toBe(1); // one agent, one partition
    expect(got[0].raw![0]).toBe(0);
    expect(got[0].raw!.readUInt32BE(1)).toBe(serde.schemaId(t));
  });

  it('the batching producer sends more than the broker takes in one request (one hot agent, many callers)', async () => {
    const t = { ...topic('hot'), valueSchema: null };
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: t.name, numPartitions: 1, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    const producer = new BatchProducer(kafka, { lingerMs: 50 });
    await producer.connect();
    // 30 concurrent callers of 100 records of 1 KB: gathered into one batch of 3 MB for one partition.
    await Promise.all(
      Array.from({ length: 30 }, (_, c) =>
        producer.send(
          Array.from({ length: 100 }, (_, i) => ({
            topic: t.name,
            key: 'support/runaway',
            value: Buffer.concat([Buffer.from(`${c * 100 + i}|`), randomBytes(1000)]),
          })),
        ),
      ),
    );
    await producer.disconnect();
    const got = await readTopic<Buffer>(kafka, t, { expected: 3000, timeoutMs: 30000 });
    const ids = got.map((g) => Number(g.raw!.toString('latin1').split('|')[0]));
    expect(ids).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  });

  it('rejects a value that does not match the schema, naming the field', async () => {
    const t = topic('invalid');
    await provision(t);
    const serde = await AvroSerde.create(config, [t]);
    expect(() => serde.encode(t, { ...run(1), input_tokens: 'many' })).toThrow(/input_tokens/);
  });

  it('sends poison records to the dead-letter topic with the reason while the good ones are processed', async () => {
    const input = topic('poison-in');
    const output = topic('poison-out');
    await provision(input, output);
    const serde = await AvroSerde.create(config, [input, output]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    const good = [run(1), run(2), run(3)];
    await producer.send([
      ...good.map((r) => ({ topic: input.name, key: 'k', value: serde.encode(input, r) })),
      { topic: input.name, key: 'k', value: Buffer.from('{"not":"avro"}') },
      { topic: input.name, key: 'k', value: Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2]) },
      { topic: input.name, key: 'k', value: serde.encode(input, run(4, 'poison-logic')) },
    ]);
    await producer.disconnect();

    const groupId = `poison-${uid()}`;
    const consumer = new BatchConsumer<Record<string, unknown>>(
      kafka,
      serde,
      {
        groupId,
        topics: [input],
        transactional: true,
        handler: async (records) => ({
          outputs: records
            .filter((r) => r.value.agent_id !== 'poison-logic')
            .map((r) => ({ topic: output.name, key: r.key, value: serde.encode(output, r.value) })),
          deadLetters: records
            .filter((r) => r.value.agent_id === 'poison-logic')
            .map((record) => ({ record, reason: 'agent is poison' })),
        }),
      },
      quietLogger(),
      testMetrics(),
    );
    await consumer.start();
    const out = await readTopic<Record<string, unknown>>(kafka, output, { expected: 3, serde });
    const dead = (
      await readTopic<Buffer>(kafka, Topics.deadLetter, { expected: 1, timeoutMs: 30000 })
    ).filter((d) => d.headers[DLQ_HEADERS.topic]?.toString() === input.name);
    await consumer.stop();

    expect(out.map((o) => o.value.run_id).sort()).toEqual(['run-1', 'run-2', 'run-3']);
    expect(dead).toHaveLength(3);
    const reasons = dead.map((d) => d.headers[DLQ_HEADERS.reason]!.toString());
    expect(reasons.filter((r) => r.startsWith('undecodable: not in Confluent wire format'))).toHaveLength(1);
    expect(reasons.filter((r) => r.startsWith('undecodable:') && /schema id/.test(r))).toHaveLength(1);
    expect(reasons).toContain('agent is poison');
    for (const d of dead) {
      expect(d.headers[DLQ_HEADERS.partition]).toBeDefined();
      expect(d.headers[DLQ_HEADERS.offset]).toBeDefined();
    }
    expect(dead.find((d) => d.headers[DLQ_HEADERS.reason]!.toString() === 'agent is poison')!.raw).toEqual(
      serde.encode(input, run(4, 'poison-logic')),
    );

    // Everything was committed: a new member of the same group finds nothing left to do.
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchOffsets({ groupId, topics: [input.name] });
    await admin.disconnect();
    const committed = offsets[0].partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    expect(committed).toBe(6);
  });

  it('passes over control records, never dead-lettering them, and hands them to a consumer that asks', async () => {
    const input = topic('control-in');
    await provision(input);
    const serde = await AvroSerde.create(config, [input]);
    const raw = kafka.producer({ idempotent: true });
    await raw.connect();
    await raw.send({
      topic: input.name,
      acks: -1,
      messages: [
        // one partition, so that their order is the partition's
        { partition: 0, key: 'k', value: serde.encode(input, run(1)) },
        {
          partition: 0,
          key: null,
          value: Buffer.alloc(0),
          headers: { [CONTROL_HEADER]: 'settings-changed' },
        },
        { partition: 0, key: 'k', value: serde.encode(input, run(2)) },
        // the header on a record with a value does not make it a control record: it is data like any other
        {
          partition: 0,
          key: 'k',
          value: serde.encode(input, run(3)),
          headers: { [CONTROL_HEADER]: 'forged' },
        },
      ],
    });
    await raw.disconnect();
    const consume = async (controlRecords: boolean) => {
      const seen: { control?: string; run?: unknown }[] = [];
      const groupId = `control-${uid()}`;
      const consumer = new BatchConsumer<Record<string, unknown>>(
        kafka,
        serde,
        {
          groupId,
          topics: [input],
          controlRecords,
          handler: async (records) => {
            for (const r of records) seen.push(r.control ? { control: r.control } : { run: r.value.run_id });
          },
        },
        quietLogger(),
        testMetrics(),
      );
      await consumer.start();
      const admin = kafka.admin();
      await admin.connect();
      for (const until = Date.now() + 30_000; Date.now() < until;) {
        const [o] = await admin.fetchOffsets({ groupId, topics: [input.name] });
        if (o.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0) === 4) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await admin.disconnect();
      await consumer.stop();
      return seen;
    };
    // every offset committed either way; only the consumer that asks sees the control record, in its place
    expect(await consume(false)).toEqual([{ run: 'run-1' }, { run: 'run-2' }, { run: 'run-3' }]);
    expect(await consume(true)).toEqual([
      { run: 'run-1' },
      { control: 'settings-changed' },
      { run: 'run-2' },
      { run: 'run-3' },
    ]);
    const dead = (await readTopic<Buffer>(kafka, Topics.deadLetter, { expected: 0, timeoutMs: 3000 })).filter(
      (d) => d.headers[DLQ_HEADERS.topic]?.toString() === input.name,
    );
    expect(dead).toEqual([]);
  });

  /** A handler's result that passes every record on to `output`, as it came. */
  function forward(records: ConsumedRecord<Record<string, unknown>>[], output: TopicSpec, serde: AvroSerde) {
    return {
      outputs: records.map((r) => ({ topic: output.name, key: r.key, value: serde.encode(output, r.value) })),
    };
  }

  async function gauge(metrics: Metrics, name: string, topicName: string): Promise<number[]> {
    const metric = (await metrics.registry.getSingleMetric(name)?.get()) ?? { values: [] };
    return metric.values.filter((v) => v.labels.topic === topicName).map((v) => v.value);
  }

  async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  for (const transactional of [true, false]) {
    it(`a record the handler keeps failing on is isolated and dead-lettered; the rest of its batch commits (${transactional ? 'transactional' : 'at least once'})`, async () => {
      const input = topic('throws-in');
      const output = topic('throws-out');
      await provision(input, output);
      const serde = await AvroSerde.create(config, [input, output]);
      const runs = Array.from({ length: 40 }, (_, i) => run(i, i === 17 ? 'poison-throw' : 'agent-a'));
      // Written in a transaction, as every topic between the services is: its commit marker follows the last record
      // and must not read as lag once everything is consumed.
      const producer = kafka.producer({
        transactionalId: `tx-${uid()}`,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      const tx = await producer.transaction();
      await tx.send({
        topic: input.name,
        messages: runs.map((r) => ({ key: 'k', value: serde.encode(input, r) })),
      });
      await tx.commit();
      await producer.disconnect();

      const groupId = `throws-${uid()}`;
      let calls = 0;
      const seenPoison: number[] = [];
      const metrics = testMetrics();
      const consumer = new BatchConsumer<Record<string, unknown>>(
        kafka,
        serde,
        {
          groupId,
          topics: [input],
          transactional,
          maxRecordAttempts: 3,
          lagIntervalMs: 1000,
          handler: async (records) => {
            calls++;
            if (records.some((r) => r.value.agent_id === 'poison-throw')) {
              seenPoison.push(records.length);
              // what PostgreSQL answers a NUL in text: a data error, the record's own
              throw Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), {
                code: '22021',
              });
            }
            return forward(records, output, serde);
          },
        },
        quietLogger(),
        metrics,
      );
      await consumer.start();
      const out = await readTopic<Record<string, unknown>>(kafka, output, { expected: 39, serde });
      const dead = (
        await readTopic<Buffer>(kafka, Topics.deadLetter, { expected: 1, timeoutMs: 30000 })
      ).filter((d) => d.headers[DLQ_HEADERS.topic]?.toString() === input.name);
      await waitFor('lag to reach 0', async () => {
        await consumer.measureLag();
        const lag = await gauge(metrics, 'burnrate_kafka_consumer_lag', input.name);
        return lag.length > 0 && lag.every((v) => v === 0);
      });
      expect(consumer.liveness()).toBeNull();
      await consumer.stop();

      // every other record once, in order
      expect(out.map((o) => o.value.run_id)).toEqual(runs.filter((_, i) => i !== 17).map((r) => r.run_id));
      expect(dead).toHaveLength(1);
      expect(dead[0].headers[DLQ_HEADERS.offset]!.toString()).toBe('17');
      expect(dead[0].headers[DLQ_HEADERS.reason]!.toString()).toMatch(
        /^failed 3 times: invalid byte sequence for encoding "UTF8": 0x00/,
      );
      expect(dead[0].raw).toEqual(serde.encode(input, runs[17]));
      // halved down to the record alone, then tried alone three times in all
      expect(seenPoison[0]).toBe(40);
      expect(seenPoison.filter((n) => n === 1)).toHaveLength(3);
      expect(calls).toBeLessThan(40);
    });
  }

  it('a dependency that is down holds the partition and retries with backoff, dead-lettering nothing', async () => {
    const input = topic('down-in');
    const output = topic('down-out');
    await provision(input, output);
    const serde = await AvroSerde.create(config, [input, output]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    const runs = Array.from({ length: 20 }, (_, i) => run(i));
    await producer.send(runs.map((r) => ({ topic: input.name, key: 'k', value: serde.encode(input, r) })));
    await producer.disconnect();

    let failures = 0;
    const metrics = testMetrics();
    const consumer = new BatchConsumer<Record<string, unknown>>(
      kafka,
      serde,
      {
        groupId: `down-${uid()}`,
        topics: [input],
        transactional: true,
        maxRecordAttempts: 1,
        maxBackoffMs: 400,
        handler: async (records) => {
          if (failures < 6) {
            failures++;
            // what pg throws when PostgreSQL is down
            throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
          }
          return forward(records, output, serde);
        },
      },
      quietLogger(),
      metrics,
    );
    await consumer.start();
    const out = await readTopic<Record<string, unknown>>(kafka, output, { expected: 20, serde });
    await consumer.stop();
    expect(out.map((o) => o.value.run_id)).toEqual(runs.map((r) => r.run_id));
    expect(failures).toBe(6);
    const retries = (await metrics.registry.getSingleMetric('burnrate_consumer_retries_total')!.get()).values;
    expect(retries.find((v) => v.labels.reason === 'dependency')?.value).toBe(6);
    expect(retries.find((v) => v.labels.reason === 'record')?.value).toBe(0);
    expect(
      (await metrics.registry.getSingleMetric('burnrate_dead_letter_records_total')!.get()).values.map(
        (v) => v.value,
      ),
    ).toEqual([0]);
  });

  it('a stuck partition shows its lag and stall on a timer, and fails liveness past the limit', async () => {
    const input = topic('stuck-in');
    await provision(input);
    const serde = await AvroSerde.create(config, [input]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    await producer.send(
      Array.from({ length: 5 }, (_, i) => ({
        topic: input.name,
        key: 'k',
        value: serde.encode(input, run(i)),
      })),
    );
    await producer.disconnect();
    const metrics = testMetrics();
    const consumer = new BatchConsumer<Record<string, unknown>>(
      kafka,
      serde,
      {
        groupId: `stuck-${uid()}`,
        topics: [input],
        lagIntervalMs: 1000,
        stallLivenessS: 2,
        maxBackoffMs: 500,
        handler: async () => {
          throw new TransientError('database unavailable');
        },
      },
      quietLogger(),
      metrics,
    );
    await consumer.start();
    try {
      await waitFor('liveness to fail', () => consumer.liveness() !== null, 30000);
      expect(consumer.liveness()).toMatch(
        new RegExp(`^${input.name} partition \\d+ has not progressed for \\d+ s with 5 records of lag`),
      );
      expect((await gauge(metrics, 'burnrate_kafka_consumer_lag', input.name)).sort()).toContain(5);
      expect(
        Math.max(...(await gauge(metrics, 'burnrate_kafka_partition_stalled_seconds', input.name))),
      ).toBeGreaterThan(2);
    } finally {
      await consumer.stop();
    }
  });

  it('commits a transaction larger than the broker takes in one request, in several requests', async () => {
    // One partition, so all 2,000 outputs (2 MB, incompressible) would be one record batch over the 1 MiB limit.
    const input = topic('big-in');
    const output = { ...topic('big-out'), valueSchema: null };
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [input, output].map((t) => ({ topic: t.name, numPartitions: 1, replicationFactor: 1 })),
      waitForLeaders: true,
    });
    await admin.disconnect();
    await provision();
    const serde = await AvroSerde.create(config, [input]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    await producer.send(
      Array.from({ length: 2000 }, (_, i) => ({
        topic: input.name,
        key: 'k',
        value: serde.encode(input, run(i)),
      })),
    );
    await producer.disconnect();

    const groupId = `big-${uid()}`;
    let slices = 0;
    const consumer = new BatchConsumer<Record<string, unknown>>(
      kafka,
      serde,
      {
        groupId,
        topics: [input],
        transactional: true,
        compression: CompressionTypes.None,
        handler: async (records) => {
          slices++;
          return {
            outputs: records.map((r) => ({
              topic: output.name,
              key: r.key,
              value: Buffer.concat([Buffer.from(`${String(r.value.run_id)}|`), randomBytes(1000)]),
            })),
          };
        },
      },
      quietLogger(),
      testMetrics(),
    );
    await consumer.start();
    const out = await readTopic<Buffer>(kafka, output, { expected: 2000, timeoutMs: 30000 });
    await consumer.stop();

    expect(slices).toBeLessThan(2000 / 100); // records were handled in large slices, not one by one
    const ids = out.map((o) => o.raw!.toString('latin1').split('|')[0]);
    expect(ids).toHaveLength(2000);
    expect(new Set(ids).size).toBe(2000);
    expect(ids).toEqual(Array.from({ length: 2000 }, (_, i) => `run-${i}`)); // in order
  });

  it('a consumer killed between producing and committing loses nothing and duplicates nothing downstream', async () => {
    const input = topic('crash-in');
    const output = topic('crash-out');
    await provision(input, output);
    const serde = await AvroSerde.create(config, [input, output]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    const total = 300;
    // Many small produce requests make many small record batches, so the worker commits many times.
    for (let start = 0; start < total; start += 10) {
      await producer.send(
        Array.from({ length: 10 }, (_, j) => start + j).map((i) => ({
          topic: input.name,
          key: `support/agent-${i % 7}`,
          value: serde.encode(input, run(i, `agent-${i % 7}`)),
        })),
      );
    }
    await producer.disconnect();

    const group = `crash-${uid()}`;
    const env = { ...process.env, COPY_IN: input.name, COPY_OUT: output.name, COPY_GROUP: group };
    const worker = (crashAt: number): ChildProcess =>
      fork(resolve(__dirname, 'support/copy-worker.ts'), [], {
        env: { ...env, CRASH_AT_COMMIT: String(crashAt) },
        execArgv: ['-r', '@swc-node/register'],
        stdio: 'ignore',
      });

    const first = worker(4);
    const exit = await new Promise<NodeJS.Signals | null>((res) =>
      first.on('exit', (_code, signal) => res(signal)),
    );
    expect(exit).toBe('SIGKILL');
    const partial = await readTopic<Record<string, unknown>>(kafka, output, {
      expected: 1,
      serde,
      settleMs: 500,
      timeoutMs: 5000,
    });
    expect(partial.length).toBeGreaterThan(0); // some batches were committed before the crash
    expect(partial.length).toBeLessThan(total);

    const second = worker(0);
    const out = await readTopic<Record<string, unknown>>(kafka, output, {
      expected: total,
      serde,
      timeoutMs: 60000,
      settleMs: 2000,
    });
    second.kill('SIGTERM');
    await new Promise((res) => second.on('exit', res));

    const ids = out.map((o) => String(o.value.run_id));
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
  });
});
