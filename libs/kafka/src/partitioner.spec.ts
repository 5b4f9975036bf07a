import { randomBytes } from 'node:crypto';
import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { KeyedPartitioner, murmur2 } from './partitioner';

// kafkajs's own (Long-based) murmur2, the reference the Java client's partitioning is checked against upstream.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const reference = require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Buffer) => number;

const metadata = (n: number, leaderless: number[] = []) =>
  Array.from({ length: n }, (_, partitionId) => ({
    partitionId,
    leader: leaderless.includes(partitionId) ? -1 : 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  })) as PartitionerArgs['partitionMetadata'];

describe(KeyedPartitioner.name, () => {
  it('hashes exactly as kafkajs (and so the Java client) does, for keys of every length and byte', () => {
    const keys = [
      Buffer.alloc(0),
      Buffer.from('a'),
      Buffer.from('ab'),
      Buffer.from('abc'),
      Buffer.from('support/research-agent'),
      Buffer.from('équipe/agent-ü-文字'),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x80]),
      ...Array.from({ length: 2000 }, (_, i) => randomBytes(i % 67)),
    ];
    for (const key of keys) expect(murmur2(key)).toBe(reference(key));
  });

  it('chooses the partition the kafkajs default partitioner chooses, from memory the second time', () => {
    const ours = KeyedPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    for (const n of [1, 3, 6, 7, 64]) {
      for (let i = 0; i < 500; i++) {
        const message = { key: `team-${i % 7}/agent-${i}`, value: null };
        const args = { topic: 'burnrate.runs.priced.v1', partitionMetadata: metadata(n), message };
        const expected = theirs(args);
        expect(ours(args)).toBe(expected);
        expect(ours(args)).toBe(expected);
        expect(ours({ ...args, message: { key: Buffer.from(message.key), value: null } })).toBe(expected);
      }
    }
  });

  it('keeps an explicit partition and spreads unkeyed records over partitions that have a leader', () => {
    const sut = KeyedPartitioner();
    const partitionMetadata = metadata(4, [1]);
    expect(sut({ topic: 't', partitionMetadata, message: { key: 'k', value: null, partition: 1 } })).toBe(1);
    const seen = new Set<number>();
    for (let i = 0; i < 30; i++) seen.add(sut({ topic: 't', partitionMetadata, message: { value: null } }));
    expect([...seen].sort()).toEqual([0, 2, 3]);
  });
});
