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
    // Another replica may have created them between listTopics and createTopics.
    if (!/already exists/i.test(String((err as Error).message))) throw err;
  }
  return missing.map((t) => t.topic);
}
