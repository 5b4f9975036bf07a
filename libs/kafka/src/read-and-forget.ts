import { randomUUID } from 'node:crypto';
import type { Batch, Kafka } from 'kafkajs';

/**
 * Reads a topic from the beginning, read_committed, until `onBatch` calls `done()`, then leaves no trace: kafkajs
 * reads only through a consumer group, so the group is one of its own, never commits an offset (nothing for a lag
 * exporter to report), and is deleted once read. A restore that dies half-way leaves an empty group without offsets,
 * which the broker expires.
 */
export async function readAndForget(
  kafka: Kafka,
  groupPrefix: string,
  what: { topic: string; pause?: number[] },
  onBatch: (batch: Batch, done: () => void) => Promise<void>,
): Promise<void> {
  const groupId = `${groupPrefix}-${randomUUID()}`;
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    maxBytesPerPartition: 8 * 1024 * 1024,
    maxWaitTimeInMs: 50,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: what.topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => onBatch(batch, resolve),
        })
        .catch(reject);
      if (what.pause?.length) consumer.pause([{ topic: what.topic, partitions: what.pause }]);
    });
  } finally {
    await consumer.disconnect();
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => void admin.disconnect().catch(() => undefined));
  }
}
