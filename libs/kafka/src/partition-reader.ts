import type { Kafka, KafkaMessage } from 'kafkajs';
import { TransientError } from './failure';

/* eslint-disable @typescript-eslint/no-require-imports */
// kafkajs reads only through a consumer group; restoring a partition's state needs a plain read of chosen partitions
// (Kafka Streams' restore consumer uses assign(), not subscribe()). These are the pieces its own consumer fetches with:
// the cluster client made with the Kafka client's settings, and the Batch that drops aborted transactions' records
// and control records exactly as its consumer does.
const Batch = require('kafkajs/src/consumer/batch') as new (
  topic: string,
  fetchedOffset: string,
  partitionData: unknown,
) => KafkaBatch;
/* eslint-enable @typescript-eslint/no-require-imports */

interface KafkaBatch {
  partition: number;
  messages: KafkaMessage[];
  rawMessages: unknown[];
  isEmptyIncludingFiltered(): boolean;
  isEmptyDueToLogCompactedMessages(): boolean;
  lastOffset(): string;
}

interface ClusterBroker {
  fetch(request: {
    replicaId?: number;
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: { topic: string; partitions: { partition: number; fetchOffset: string; maxBytes: number }[] }[];
  }): Promise<{ responses: { topicName: string; partitions: { partition: number }[] }[] }>;
}

interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(node: { nodeId: string }): Promise<ClusterBroker>;
  fetchTopicsOffset(
    topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

const READ_COMMITTED = 1;

function clusterOf(kafka: Kafka): Cluster {
  const create = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  );
  if (!create) throw new Error('this kafkajs version has no cluster factory (kafkajs 2.x expected)');
  const factory = (kafka as unknown as Record<symbol, (o: object) => Cluster>)[create];
  return factory({ metadataMaxAge: 300_000, allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED });
}

export interface ReadPartitionsOptions {
  /** Called between fetches (at most once a second): a restore inside a consumer's batch keeps its member alive. */
  heartbeat?: () => Promise<void>;
  /** Bytes fetched per partition per request (default 8 MiB). */
  maxBytesPerPartition?: number;
  /** No progress for this long and the read fails with a TransientError (default 60 s). */
  stallTimeoutMs?: number;
}

/**
 * Reads the given partitions of a topic from their first offset to their end as of the call, read_committed, without
 * a consumer group: nothing is joined, committed or left behind. The end of a partition is its last stable offset
 * (what read_committed can see), and the read stops by position, so a partition ending in a commit or abort marker,
 * or in a crashed predecessor's open transaction, cannot hang it. Calls `apply` for every record, in offset order per
 * partition. Returns the number of records applied.
 */
export async function readPartitions(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  apply: (partition: number, message: KafkaMessage) => void,
  opts: ReadPartitionsOptions = {},
): Promise<number> {
  if (partitions.length === 0) return 0;
  const cluster = clusterOf(kafka);
  await cluster.connect();
  try {
    await cluster.addTargetTopic(topic);
    const offsets = async (fromBeginning: boolean) =>
      new Map(
        (
          await cluster.fetchTopicsOffset([
            { topic, partitions: partitions.map((partition) => ({ partition })), fromBeginning },
          ])
        )
          .flatMap((t) => t.partitions)
          .map((p) => [p.partition, BigInt(p.offset)]),
      );
    const ends = await offsets(false);
    const positions = await offsets(true);
    const pending = new Set(partitions.filter((p) => (positions.get(p) ?? 0n) < (ends.get(p) ?? 0n)));
    const maxBytes = opts.maxBytesPerPartition ?? 8 * 1024 * 1024;
    const stallMs = opts.stallTimeoutMs ?? 60_000;
    let applied = 0;
    let progressAt = Date.now();
    let beatAt = Date.now();
    while (pending.size > 0) {
      if (Date.now() - progressAt > stallMs)
        throw new TransientError(
          `restore of ${topic} partitions ${[...pending].join(',')} made no progress for ${stallMs} ms`,
        );
      if (opts.heartbeat && Date.now() - beatAt >= 1000) {
        await opts.heartbeat();
        beatAt = Date.now();
      }
      let leaders: Record<string, number[]>;
      try {
        leaders = cluster.findLeaderForPartitions(topic, [...pending]);
      } catch {
        await cluster.refreshMetadata();
        continue;
      }
      await Promise.all(
        Object.entries(leaders).map(async ([nodeId, parts]) => {
          const broker = await cluster.findBroker({ nodeId });
          const requested = new Map(parts.map((p) => [p, positions.get(p)!.toString()]));
          let responses: Awaited<ReturnType<ClusterBroker['fetch']>>['responses'];
          try {
            ({ responses } = await broker.fetch({
              replicaId: -1,
              isolationLevel: READ_COMMITTED,
              maxWaitTime: 100,
              minBytes: 1,
              maxBytes: maxBytes * parts.length,
              topics: [
                {
                  topic,
                  partitions: parts.map((partition) => ({
                    partition,
                    fetchOffset: requested.get(partition)!,
                    maxBytes,
                  })),
                },
              ],
            }));
          } catch (err) {
            // leadership moved, a broker restarted: fresh metadata, and the next round asks again
            await cluster.refreshMetadata().catch(() => undefined);
            if (Date.now() - progressAt > stallMs) throw err;
            return;
          }
          for (const data of responses.flatMap((r) => r.partitions)) {
            const batch = new Batch(topic, requested.get(data.partition)!, data);
            const p = batch.partition;
            if (!pending.has(p)) continue;
            for (const m of batch.messages) {
              if (BigInt(m.offset) >= ends.get(p)!) break;
              apply(p, m);
              applied++;
            }
            // Past aborted records, markers and compacted gaps too; an empty answer (nothing yet) moves nothing.
            if (!batch.isEmptyIncludingFiltered() || batch.isEmptyDueToLogCompactedMessages()) {
              positions.set(p, BigInt(batch.lastOffset()) + 1n);
              progressAt = Date.now();
            }
            if (positions.get(p)! >= ends.get(p)!) pending.delete(p);
          }
        }),
      );
    }
    return applied;
  } finally {
    await cluster.disconnect().catch(() => undefined);
  }
}
