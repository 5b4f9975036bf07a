import type { Kafka } from 'kafkajs';
import type { TopicSpec } from '@libs/contracts';
import { JsonLogger, Metrics } from '@libs/observability';
import { PartitionStore } from './partition-store';

const topic = (name: string): TopicSpec => ({ name, valueSchema: null, compacted: false });

describe(PartitionStore.name, () => {
  it('starts its count of restored records at 0, so that the first restore is an increase', async () => {
    const metrics = new Metrics('test');

    new PartitionStore<Map<string, string>>({
      name: 'aggregator',
      kafka: {} as Kafka,
      input: topic('in.v1'),
      changelog: topic('in.changelog'),
      create: () => new Map(),
      restore: (state, key, value) => state.set(key, String(value)),
      log: new JsonLogger({}, 'fatal', () => undefined),
      metrics,
    });

    const restored = await metrics.registry.getSingleMetric('burnrate_state_restored_records_total')!.get();
    expect(restored.values.map((v) => [v.labels, v.value])).toEqual([[{ store: 'aggregator' }, 0]]);
  });
});
