import { groupMessagesPerPartition } from './kafkajs-grouping';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

describe('kafkajs message grouping (linear replacement)', () => {
  const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }];
  const messages = Array.from({ length: 10 }, (_, i) => ({
    key: `k${i}`,
    value: String(i),
    partition: (i * 7) % 3,
  }));
  const partitioner = ({ message }: { message: { partition: number } }) => message.partition;

  it('is what kafkajs loads in a service process (jest has its own module registry, so checked in a real node)', () => {
    const script = [
      "require('./libs/kafka/src');",
      "const loaded = require('kafkajs/src/producer/groupMessagesPerPartition');",
      "process.stdout.write(loaded.name + ' ' + String(loaded).includes('...current'));",
    ].join('');
    const out = execFileSync(process.execPath, ['-r', '@swc-node/register', '-e', script], {
      cwd: resolve(__dirname, '../../..'),
      encoding: 'utf8',
    });
    expect(out).toBe('groupMessagesPerPartition false');
  });

  it('groups exactly as kafkajs does: by partition, in order', () => {
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2']);
    for (const [p, ms] of Object.entries(grouped)) {
      expect(ms).toEqual(messages.filter((m) => m.partition === Number(p)));
    }
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner })).toEqual(
      {},
    );
  });

  it('groups 100,000 messages for one partition without quadratic cost', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => ({ key: null, value: String(i), partition: 0 }));
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages: many, partitioner });
    expect(grouped[0]).toHaveLength(100_000);
    expect(grouped[0][99_999]).toBe(many[99_999]);
  });
});
