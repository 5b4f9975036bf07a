import type { Admin, ITopicConfig } from 'kafkajs';
import type { TopicSpec } from '@libs/contracts';

export interface ProvisionSettings {
  KAFKA_TOPIC_PARTITIONS: number;
  KAFKA_REPLICATION_FACTOR: number;
}

/** Creates the topics that do not exist yet; compacted topics get cleanup.policy=compact. Existing ones are left as they are. */
export async function provisionTopics(
  admin: Admin,
  settings: ProvisionSettings,
  topics: readonly TopicSpec[],
): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing: ITopicConfig[] = topics
    .filter((t) => !existing.has(t.name))
    .map((t) => ({
      topic: t.name,
      numPartitions: settings.KAFKA_TOPIC_PARTITIONS,
      replicationFactor: settings.KAFKA_REPLICATION_FACTOR,
      configEntries: [
        { name: 'cleanup.policy', value: t.compacted ? 'compact' : 'delete' },
        ...(t.retentionMs && !t.compacted ? [{ name: 'retention.ms', value: String(t.retentionMs) }] : []),
        ...(settings.KAFKA_REPLICATION_FACTOR > 1 ? [{ name: 'min.insync.replicas', value: '2' }] : []),
      ],
    }));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  } catch (err) {
    // Another process (a replica, or another service starting at the same time) created them between listTopics and
    // createTopics: they may not have leaders yet, which its createTopics waits for and ours then did not. Or they were
    // created and kafkajs's own wait for their leaders gave up on a broker slow to serve them (seen on a fresh broker).
    if (!/already exists|does not host this topic-partition|no leader/i.test(String((err as Error).message)))
      throw err;
    await untilServed(
      admin,
      missing.map((t) => t.topic),
    );
  }
  return missing.map((t) => t.topic);
}

/** Waits (up to `timeoutMs`) until the broker serves metadata with a leader for every partition of `topics`. */
async function untilServed(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: served } = await admin.fetchTopicMetadata({ topics });
      if (served.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (err) {
      const type = (err as { type?: string }).type;
      if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'LEADER_NOT_AVAILABLE') throw err;
    }
    if (Date.now() > deadline)
      throw new Error(`topics ${topics.join(', ')} have no leaders after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
