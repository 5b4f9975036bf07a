import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { commonSpec, parseConfig, type CommonConfig } from '@libs/config';
import type { TopicSpec } from '@libs/contracts';
import { AvroSerde, CONTROL_HEADER, createKafka } from '@libs/kafka';
import { JsonLogger, Metrics } from '@libs/observability';

/** Settings of the local stack (DESIGN.md "Local stack"), overridable by the usual environment variables. */
export function testConfig(overrides: Record<string, string> = {}): CommonConfig {
  return parseConfig(commonSpec, { ...process.env, KAFKA_TOPIC_PARTITIONS: '3', ...overrides });
}

export function uid(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export const quietLogger = (): JsonLogger => new JsonLogger({ test: true }, 'error', () => undefined);
export const testMetrics = (): Metrics => new Metrics('test');

export function testKafka(config: CommonConfig = testConfig()): Kafka {
  return createKafka(config, `test-${uid()}`, quietLogger());
}

export interface ReadRecord<T> {
  key: string | null;
  value: T;
  raw: Buffer | null;
  headers: IHeaders;
  partition: number;
  offset: string;
  /** The record's Kafka timestamp, epoch ms. */
  timestamp: number;
}

/**
 * Reads a topic from the beginning with a fresh group (read_committed) until `expected` records have arrived and
 * the topic has been quiet for `settleMs` (so extra, duplicate records would be seen), or until `timeoutMs`.
 */
export async function readTopic<T>(
  kafka: Kafka,
  topic: TopicSpec,
  opts: { expected: number; serde?: AvroSerde; timeoutMs?: number; settleMs?: number },
): Promise<ReadRecord<T>[]> {
  const consumer = kafka.consumer({
    groupId: `reader-${uid()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
  });
  const out: ReadRecord<T>[] = [];
  let lastArrival = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topic: topic.name, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }) => {
      // a control record (a service waking its input partition) is no data: every consumer passes over it
      if (!message.value?.length && message.headers?.[CONTROL_HEADER] !== undefined) return;
      const value =
        opts.serde && topic.valueSchema
          ? await opts.serde.decode<T>(topic, message.value)
          : (message.value as unknown as T);
      out.push({
        key: message.key?.toString() ?? null,
        value,
        raw: message.value,
        headers: message.headers ?? {},
        partition,
        offset: message.offset,
        timestamp: Number(message.timestamp),
      });
      lastArrival = Date.now();
    },
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 30000);
  const settle = opts.settleMs ?? 1500;
  while (Date.now() < deadline) {
    if (out.length >= opts.expected && Date.now() - lastArrival >= settle) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await consumer.disconnect();
  return out;
}

export { logLevel };
