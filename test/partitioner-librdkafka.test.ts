import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { partitionFor, provisionTopics } from '@libs/kafka';
import { testConfig, testKafka, uid } from './support/stack';

const ROOT = resolve(__dirname, '..');
const VENV = join(process.env.BURNRATE_TOOLS_DIR ?? join(ROOT, '.burnrate', 'tools'), 'confluent-kafka');
const PYTHON = join(VENV, 'bin', 'python');

/** confluent-kafka-python from PyPI, in a venv of the tools directory (once). */
function python(): string {
  if (!existsSync(PYTHON)) {
    execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    execFileSync(
      join(VENV, 'bin', 'pip'),
      ['install', '--quiet', '--disable-pip-version-check', 'confluent-kafka>=2.5,<3'],
      {
        stdio: 'inherit',
      },
    );
  }
  return PYTHON;
}

/**
 * A producer on librdkafka (confluent-kafka-python; Go's and .NET's confluent clients are the same library), configured
 * as docs/producers.md says (`partitioner=murmur2_random`), puts each agent's key in the partition burnrate's own
 * producers put it in (libs/kafka partitionFor: the HTTP ingestion's, kafkajs's and Java's murmur2). With librdkafka's
 * default (consistent_random, CRC32) it does not: the reason for the documented setting.
 */
describe('a librdkafka producer configured as docs/producers.md says', () => {
  const config = testConfig();
  const topic = { name: `burnrate.partitioner.${uid()}`, valueSchema: null, compacted: false } as const;
  const keys = Array.from({ length: 40 }, (_, i) => `pyteam/py-agent-${i}`).concat('pyteam/py-agent');
  const PARTITIONS = 6;

  beforeAll(async () => {
    const admin = testKafka(config).admin();
    await admin.connect();
    await provisionTopics(admin, { ...config, KAFKA_TOPIC_PARTITIONS: PARTITIONS }, [topic]);
    await admin.disconnect();
  }, 60_000);

  const produce = (partitioner: string): Map<string, number> => {
    const out = execFileSync(
      python(),
      [
        join(__dirname, 'support', 'produce_confluent.py'),
        config.KAFKA_BROKERS[0],
        topic.name,
        partitioner,
        ...keys,
      ],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    return new Map(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { key: string; partition: number })
        .map((r) => [r.key, r.partition]),
    );
  };

  it('with partitioner=murmur2_random, every agent lands in the partition of the HTTP path', () => {
    const got = produce('murmur2_random');
    expect(got.size).toBe(keys.length);
    for (const key of keys) expect([key, got.get(key)]).toEqual([key, partitionFor(key, PARTITIONS)]);
  }, 180_000);

  it('with librdkafka’s default partitioner, agents land elsewhere (why the setting is documented)', () => {
    const got = produce('default');
    const elsewhere = keys.filter((k) => got.get(k) !== partitionFor(k, PARTITIONS));
    expect(elsewhere.length).toBeGreaterThan(keys.length / 2);
  }, 180_000);
});
