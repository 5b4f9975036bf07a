import type { Kafka } from 'kafkajs';
import type { TopicSpec } from '@libs/contracts';
import { JsonLogger, Metrics } from '@libs/observability';
import { BatchConsumer } from './batch-consumer';

const topic = (name: string): TopicSpec => ({ name, valueSchema: null, compacted: false });

async function series(metrics: Metrics, name: string): Promise<[Record<string, unknown>, number][]> {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  return metric.values.map((v) => [v.labels, v.value]);
}

describe(BatchConsumer.name, () => {
  it("starts its records, dead letters and retries at 0 for each topic it reads, so that a member's first is an increase", async () => {
    const metrics = new Metrics('test');
    const kafka = { consumer: () => ({}) } as unknown as Kafka;

    new BatchConsumer(
      kafka,
      null,
      {
        groupId: 'burnrate-recorder',
        topics: [topic('a.v1'), topic('b.v1')],
        handler: async () => undefined,
      },
      new JsonLogger({}, 'fatal', () => undefined),
      metrics,
    );

    expect(await series(metrics, 'burnrate_consumer_records_total')).toEqual([
      [{ topic: 'a.v1', group: 'burnrate-recorder' }, 0],
      [{ topic: 'b.v1', group: 'burnrate-recorder' }, 0],
    ]);
    expect(await series(metrics, 'burnrate_dead_letter_records_total')).toEqual([
      [{ source_topic: 'a.v1', group: 'burnrate-recorder' }, 0],
      [{ source_topic: 'b.v1', group: 'burnrate-recorder' }, 0],
    ]);
    expect(await series(metrics, 'burnrate_consumer_retries_total')).toEqual([
      [{ topic: 'a.v1', group: 'burnrate-recorder', reason: 'dependency' }, 0],
      [{ topic: 'a.v1', group: 'burnrate-recorder', reason: 'record' }, 0],
      [{ topic: 'b.v1', group: 'burnrate-recorder', reason: 'dependency' }, 0],
      [{ topic: 'b.v1', group: 'burnrate-recorder', reason: 'record' }, 0],
    ]);
  });
});
