/**
 * A child process for crash tests: a transactional BatchConsumer copying COPY_IN to COPY_OUT. With CRASH_AT_COMMIT=n
 * it kills itself (exit 137, no cleanup) on its n-th transaction commit, after the outputs were sent but before the
 * commit: the worst moment for a consume-transform-produce loop.
 */
import { Topics } from '@libs/contracts';
import { AvroSerde, BatchConsumer, createKafka } from '@libs/kafka';
import type { Producer } from 'kafkajs';
import { JsonLogger } from '@libs/observability';
import { quietLogger, testConfig, testMetrics } from './stack';

async function main(): Promise<void> {
  const config = testConfig();
  const input = { ...Topics.runsRaw, name: process.env.COPY_IN! };
  const output = { ...Topics.runsRaw, name: process.env.COPY_OUT! };
  const crashAt = Number(process.env.CRASH_AT_COMMIT ?? 0);
  const serde = await AvroSerde.create(config, [input, output]);
  const kafka = createKafka(config, 'copy-worker', quietLogger());
  const logger = process.env.DEBUG_WORKER ? new JsonLogger({ worker: 'copy' }, 'debug') : quietLogger();
  const consumer = new BatchConsumer<Record<string, unknown>>(
    kafka,
    serde,
    {
      groupId: process.env.COPY_GROUP!,
      topics: [input],
      transactional: true,
      transactionalId: `copy-${process.env.COPY_GROUP}`,
      maxBytesPerPartition: Number(process.env.COPY_MAX_BYTES ?? 2048),
      // A killed member holds its partitions until its session times out; keep that short in the test.
      sessionTimeoutMs: 6000,
      handler: async (records) => ({
        outputs: records.map((r) => ({
          topic: output.name,
          key: r.key,
          value: serde.encode(output, r.value),
        })),
      }),
    },
    logger,
    testMetrics(),
  );
  await consumer.start();
  if (crashAt > 0) {
    const producer = (consumer as unknown as { txProducer: Producer }).txProducer;
    const transaction = producer.transaction.bind(producer);
    let commits = 0;
    producer.transaction = async () => {
      const tx = await transaction();
      const commit = tx.commit.bind(tx);
      tx.commit = async () => {
        if (++commits >= crashAt) process.kill(process.pid, 'SIGKILL');
        return commit();
      };
      return tx;
    };
  }
  process.send?.('started');
  process.on('SIGTERM', () => void consumer.stop().then(() => process.exit(0)));
}

void main();
