import type { Kafka } from 'kafkajs';
import { readAndForget } from '@libs/kafka';
import type { Detector, LedgerKey } from './core/detector';

/**
 * Rebuilds the detector's ledgers from its compacted changelog topic (Kafka Streams style): reads every partition from
 * the beginning to the high watermark seen at the start, with read_committed, so only state whose outputs were
 * committed is restored.
 */
export async function restoreFromChangelog(kafka: Kafka, topic: string, detector: Detector): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { partition: number; high: string; low: string }[];
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const pending = new Map(
    offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high) - 1n]),
  );
  if (pending.size === 0) return 0;
  let restored = 0;
  await readAndForget(kafka, `burnrate-detector-restore-${topic}`, { topic }, async (batch, done) => {
    for (const m of batch.messages) {
      if (!m.key) continue;
      const key = m.key.toString() as LedgerKey;
      detector.restore(key, m.value ? JSON.parse(m.value.toString()) : null);
      restored++;
    }
    const last = pending.get(batch.partition);
    if (last !== undefined && BigInt(batch.highWatermark) - 1n <= BigInt(batch.lastOffset()))
      pending.delete(batch.partition);
    else if (last !== undefined && BigInt(batch.lastOffset()) >= last) pending.delete(batch.partition);
    if (pending.size === 0) done();
  });
  detector.restored();
  return restored;
}
