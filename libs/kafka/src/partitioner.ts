import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

/**
 * Kafka's murmur2 (the Java client's `Utils.murmur2`), in 32-bit integer arithmetic. kafkajs computes it with Long
 * objects: ~10 µs a key, the largest single cost in the pricing service's profile.
 */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = length & ~3;
  const rest = length & 3;
  if (rest === 3) h ^= data[tail + 2] << 16;
  if (rest >= 2) h ^= data[tail + 1] << 8;
  if (rest >= 1) h = Math.imul(h ^ data[tail], m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

const MAX_REMEMBERED = 100_000;

/** The partition of a keyed record among `count`, as every client configured like the Java one computes it. */
export function partitionFor(key: string | Buffer, count: number): number {
  return (murmur2(typeof key === 'string' ? Buffer.from(key) : key) & 0x7fffffff) % count;
}

/**
 * The Java client's default partitioning of keyed records (murmur2 of the key, positive, modulo the partition count),
 * so producers in any language put an agent's runs in the same partition; an explicit partition wins, and unkeyed
 * records go round-robin. Partitions of recent keys are remembered: a topic's keys are its agents, a small set.
 */
export const KeyedPartitioner: ICustomPartitioner = () => {
  /** By topic: the partition count the partitions were computed for, and each string key's partition. */
  const remembered = new Map<string, { count: number; partitions: Map<string, number> }>();
  let next = Math.floor(Math.random() * 0x7fffffff);
  return ({ topic, partitionMetadata, message }: PartitionerArgs): number => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    const count = partitionMetadata.length;
    const { key } = message;
    if (key === null || key === undefined) {
      const available = partitionMetadata.filter((p) => p.leader >= 0);
      next = (next + 1) & 0x7fffffff;
      return available.length > 0 ? available[next % available.length].partitionId : next % count;
    }
    if (typeof key !== 'string')
      return (murmur2(Buffer.isBuffer(key) ? key : Buffer.from(String(key))) & 0x7fffffff) % count;
    let memo = remembered.get(topic);
    if (!memo || memo.count !== count) remembered.set(topic, (memo = { count, partitions: new Map() }));
    let partition = memo.partitions.get(key);
    if (partition === undefined) {
      partition = partitionFor(key, count);
      if (memo.partitions.size >= MAX_REMEMBERED) memo.partitions.clear();
      memo.partitions.set(key, partition);
    }
    return partition;
  };
};
