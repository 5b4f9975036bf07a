/**
 * Pricing: the pure function (validate, normalise, price) per core, and priced runs per second through the real
 * service process (one consumer, transactional) on the real broker, measured from a full raw topic to its group
 * having committed the last offset.
 */
import { topicsIn, type RunEvent } from '@libs/contracts';
import { AvroSerde, BatchProducer, createKafka, provisionTopics } from '@libs/kafka';
import { JsonLogger } from '@libs/observability';
import { RateCardResolver, datasetRows } from '@libs/pricing-core';
import { commonSpec, parseConfig } from '@libs/config';
import { priceBatch, type RawRecord } from '../services/pricing/src/price-batch';
import { peakRssMb, quick, round, startBuiltService, stop } from './support';

const MODELS = [
  'gpt-4o-2024-08-06',
  'claude-sonnet-4-5-20250929',
  'gemini-2.5-pro',
  'claude-haiku-4-5',
  'gpt-4o-mini',
];

function run(i: number, now: number): RunEvent {
  const model = MODELS[i % MODELS.length];
  return {
    run_id: `bench-${now}-${i}`,
    agent_id: `agent-${i % 500}`,
    team: `team-${i % 5}`,
    model,
    provider: null,
    input_tokens: 3000 + (i % 1000),
    output_tokens: 400 + (i % 300),
    cache_read_tokens: model.startsWith('claude') ? 8000 : 1000,
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
    started_at: now - 5000,
    finished_at: now - 1000,
    status: 'success',
    customer_id: `cus-${i % 300}`,
    feature: 'bench',
    cost_centre: null,
    session_id: null,
    tool: null,
    parent_run_id: null,
    quality_score: null,
    tags: {},
    received_at: null,
    source: 'kafka',
  };
}

async function main(): Promise<void> {
  const now = Date.now();
  const card = new RateCardResolver(await datasetRows('bench'));
  const pureN = quick ? 100_000 : 400_000;
  const records: RawRecord[] = Array.from({ length: pureN }, (_, i) => ({
    value: run(i, now),
    raw: null,
    topic: 't',
    partition: 0,
    offset: String(i),
  }));
  priceBatch(records.slice(0, 5000), card, now); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < records.length; i += 1000) priceBatch(records.slice(i, i + 1000), card, now);
  const pure = pureN / (Number(process.hrtime.bigint() - t0) / 1e9);
  console.log(`pricing, pure function: ${round(pure)} runs/s on one core`);

  const config = parseConfig(commonSpec, { ...process.env, KAFKA_TOPIC_PARTITIONS: '1' });
  const ns = `bench${now.toString(36)}`;
  const T = topicsIn(ns);
  const kafka = createKafka(config, 'bench', new JsonLogger({}, 'error'));
  const admin = kafka.admin();
  await admin.connect();
  await provisionTopics(admin, config, Object.values(T));
  const serde = await AvroSerde.create(config, [T.runsRaw]);
  const producer = new BatchProducer(kafka, { maxBatchRecords: 5000 });
  await producer.connect();
  const n = quick ? 50_000 : 200_000;
  for (let i = 0; i < n; i += 5000) {
    await producer.send(
      Array.from({ length: Math.min(5000, n - i) }, (_, j) => {
        const r = run(i + j, now);
        return { topic: T.runsRaw.name, key: `${r.team}/${r.agent_id}`, value: serde.encode(T.runsRaw, r) };
      }),
    );
  }
  await producer.disconnect();
  const end = (await admin.fetchTopicOffsets(T.runsRaw.name)).reduce((s, p) => s + Number(p.high), 0);

  const group = `pricing-${ns}`;
  const svc = await startBuiltService('pricing', 18591, {
    BURNRATE_TOPIC_NAMESPACE: ns,
    CONSUMER_GROUP: group,
    INSTANCE_ID: ns,
  });
  const started = Date.now(); // from readiness: the group join is in, process start-up is not
  let committed = 0;
  while (committed < end && Date.now() - started < 300_000) {
    await new Promise((r) => setTimeout(r, 200));
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [T.runsRaw.name] });
    committed = offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  }
  const seconds = (Date.now() - started) / 1000;
  const rss = peakRssMb(svc.pid);
  await stop(svc);
  await admin.disconnect();
  const service = n / seconds;
  console.log(
    `pricing, service (1 partition, transactional, from readiness): ${round(service)} runs/s (${n} runs in ${round(seconds, 1)} s)`,
  );
  console.log(
    JSON.stringify({
      pricing_pure_runs_per_s: round(pure),
      pricing_service_runs_per_s: round(service),
      pricing_peak_rss_mb: rss,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
