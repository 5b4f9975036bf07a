import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { readAndForget } from '@libs/kafka';

/**
 * Reads the given partitions of a compacted changelog topic from the beginning, read_committed, so only state whose
 * outputs and offsets were committed comes back. Where to stop: a fence record written to each partition first and
 * read back. (Reading up to the high watermark is not enough: when the tail of a partition is an aborted transaction,
 * e.g. a crashed predecessor's, the client never hands over a batch for it and the restore would wait forever.)
 * Other partitions are paused. Returns the number of records applied.
 */
export async function restorePartitions(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  apply: (partition: number, key: string, value: string | null) => void,
): Promise<number> {
  if (partitions.length === 0) return 0;
  const fence = `f|${randomUUID()}`;
  const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: partitions.map((partition) => ({ key: fence, value: null, partition })),
    });
  } finally {
    await producer.disconnect();
  }
  const pending = new Set(partitions);
  const admin = kafka.admin();
  await admin.connect();
  let all: number[];
  try {
    all = (await admin.fetchTopicOffsets(topic)).map((o) => o.partition);
  } finally {
    await admin.disconnect();
  }
  let restored = 0;
  const others = all.filter((p) => !pending.has(p));
  await readAndForget(kafka, `burnrate-restore-${topic}`, { topic, pause: others }, async (batch, done) => {
    if (!pending.has(batch.partition)) return;
    for (const m of batch.messages) {
      const key = m.key?.toString();
      if (!key) continue;
      if (key === fence) {
        pending.delete(batch.partition);
        break;
      }
      if (key.startsWith('f|')) continue; // an earlier restore's fence
      apply(batch.partition, key, m.value ? m.value.toString() : null);
      restored++;
    }
    if (pending.size === 0) done();
  });
  return restored;
}
