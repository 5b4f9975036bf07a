/**
 * Publishing runs straight onto Kafka as Avro, the way a high-volume producer does it from its own Node process.
 * It uses only public packages (kafkajs, @kafkajs/confluent-schema-registry) and the schema burnrate registered.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 SCHEMA_REGISTRY_URL=http://127.0.0.1:8085/apis/ccompat/v7 \
 *   node -r @swc-node/register examples/publish-runs.ts
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, Partitioners } from 'kafkajs';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8085/apis/ccompat/v7';
const topic = process.env.TOPIC ?? 'burnrate.runs.raw.v1';
const team = process.env.TEAM ?? 'support';
const count = Number(process.env.COUNT ?? 10);

async function main(): Promise<void> {
  const registry = new SchemaRegistry({ host: registryUrl });
  // The schema burnrate registered for the topic (subject <topic>-value); its id goes into every record.
  const schemaId = await registry.getLatestSchemaId(`${topic}-value`);

  const kafka = new Kafka({ clientId: 'example-producer', brokers });
  // Java-compatible partitioner: the same key lands in the same partition from any language's client.
  const producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();

  const now = Date.now();
  const messages = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const run = {
        run_id: `${process.env.RUN_PREFIX ?? 'example'}-${now}-${i}`,
        agent_id: 'research-agent',
        team, // Kafka producers set the team themselves
        model: 'claude-sonnet-4-5-20250929',
        provider: 'anthropic',
        input_tokens: 2400, // as Anthropic reports it: excluding cache reads and writes
        output_tokens: 610,
        cache_read_tokens: 12000,
        cache_write_tokens: null,
        cache_write_1h_tokens: null,
        started_at: now - 5000, // epoch milliseconds
        finished_at: now,
        status: 'success',
        customer_id: 'cus_8821',
        feature: 'lead-enrichment',
        cost_centre: null,
        session_id: `sess-${i % 3}`,
        tool: null,
        parent_run_id: null,
        quality_score: 0.9,
        tags: { env: 'prod' },
        received_at: null,
        source: 'kafka',
      };
      // Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary.
      return { key: `${team}/${run.agent_id}`, value: await registry.encode(schemaId, run) };
    }),
  );
  await producer.send({ topic, acks: -1, messages });
  await producer.disconnect();
  console.log(`published ${messages.length} runs to ${topic} with schema id ${schemaId}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
