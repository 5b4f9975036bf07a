/**
 * Detector latency, through the chain the card describes: from the run that crosses a threshold being published on
 * runs.priced to its anomaly being readable (committed) on the anomalies topic, through the real aggregator and
 * detector processes (dist/) on the real broker. The aggregator counts the run and commits its agent-stats record
 * (with the rules' inputs, its signals) in a transaction; the detector judges that record and commits the anomaly in
 * another. Each trial is a run of a model the rate card cannot price (the unpriced-model rule fires on the first such
 * run), against an agent with a few days of history already in the aggregator's state.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { agentKey, topicsIn, type PricedRun } from '@libs/contracts';
import { AvroSerde, BatchProducer, createKafka, provisionTopics } from '@libs/kafka';
import { JsonLogger } from '@libs/observability';
import { commonSpec, parseConfig } from '@libs/config';
import type { Anomaly } from '../services/detector/src/core/anomaly';
import { agentFleet, generateRuns } from '../services/detector/src/testing/synthetic';
import { quick, round, startBuiltService, stop } from './support';

const DAY = 86_400_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

/** Records of `topic` the group has committed, summed over its partitions. */
async function committed(admin: Admin, group: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

/**
 * Whether the group has committed every record of `topic`, a topic written only in transactions: each partition
 * written ends with a commit marker, never consumed, so it is caught up at the high watermark minus one.
 */
async function caughtUp(admin: Admin, group: string, topic: string): Promise<boolean> {
  const [ends, offsets] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId: group, topics: [topic] }),
  ]);
  const done = new Map(offsets[0].partitions.map((p) => [p.partition, Number(p.offset)]));
  return ends.every((e) => Number(e.high) === 0 || (done.get(e.partition) ?? -1) >= Number(e.high) - 1);
}

async function until(what: string, ready: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`${what} after ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

async function main(): Promise<void> {
  const config = parseConfig(commonSpec, process.env);
  const ns = `bench${Date.now().toString(36)}`;
  const T = topicsIn(ns);
  const kafka = createKafka(config, 'bench-detector', new JsonLogger({ bench: 'detector' }, 'error'));
  const admin = kafka.admin();
  await admin.connect();
  await provisionTopics(admin, config, [T.runsPriced, T.agentStats, T.anomalies]);
  const serde = await AvroSerde.create(config, [T.runsPriced, T.anomalies]);
  const producer = new BatchProducer(kafka, { lingerMs: 0 });
  await producer.connect();

  const now = Date.now();
  const agents = agentFleet(4, 1).map((a) => ({ ...a, team: 'bench', runsPerDay: 200 }));
  const history = [...generateRuns({ start: now - 5 * DAY, days: 5, agents, seed: 1 })].filter(
    (r) => r.run.finished_at < now - 60_000,
  );
  for (let i = 0; i < history.length; i += 500) {
    await producer.send(
      history.slice(i, i + 500).map((r) => ({
        topic: T.runsPriced.name,
        key: agentKey(r.team, r.run.agent_id),
        value: serde.encode(T.runsPriced, r),
      })),
    );
  }

  const arrivals = new Map<string, number>();
  const reader = kafka.consumer({
    groupId: `bench-reader-${ns}`,
    readUncommitted: false,
    maxWaitTimeInMs: 10,
  });
  await reader.connect();
  await reader.subscribe({ topic: T.anomalies.name, fromBeginning: true });
  await reader.run({
    eachMessage: async ({ message }) => {
      const at = Date.now();
      const a = await serde.decode<Anomaly>(T.anomalies, message.value);
      if (a.trigger_run_id && a.state === 'firing') arrivals.set(a.trigger_run_id, at);
    },
  });

  const stateDir = mkdtempSync(join(tmpdir(), 'bench-detector-'));
  const env = { BURNRATE_TOPIC_NAMESPACE: ns, INSTANCE_ID: ns };
  const aggregatorGroup = `aggregator-${ns}`;
  const detectorGroup = `detector-${ns}`;
  const [aggregator, detector] = await Promise.all([
    startBuiltService('aggregator', 18598, { ...env, CONSUMER_GROUP: aggregatorGroup, STATE_DIR: stateDir }),
    startBuiltService('detector', 18593, { ...env, CONSUMER_GROUP: detectorGroup }),
  ]);
  const started = Date.now();
  await until(
    `the aggregator has not committed the ${history.length} runs of history`,
    async () => (await committed(admin, aggregatorGroup, T.runsPriced.name)) >= history.length,
  );
  await until(`the detector has not caught up with agent-stats`, () =>
    caughtUp(admin, detectorGroup, T.agentStats.name),
  );
  console.log(
    `detector bench: ${history.length} runs of history through aggregator + detector in ${round((Date.now() - started) / 1000, 1)} s after both were ready`,
  );

  const trials = quick ? 15 : 60;
  const latencies: number[] = [];
  const template = history.at(-1)!;
  for (let i = 0; i < trials; i++) {
    const agent = agents[i % agents.length];
    const finished = Date.now();
    const run: PricedRun = {
      ...template,
      team: agent.team,
      price_status: 'unpriced',
      total_cost_nanos: 0,
      priced_at: finished,
      run: {
        ...template.run,
        run_id: `${ns}-trial-${i}`,
        agent_id: agent.agentId,
        team: agent.team,
        model: `bench-unknown-${i}`,
        started_at: finished - 1000,
        finished_at: finished,
        received_at: finished,
      },
    };
    const sent = Date.now();
    await producer.send([
      {
        topic: T.runsPriced.name,
        key: agentKey(agent.team, agent.agentId),
        value: serde.encode(T.runsPriced, run),
      },
    ]);
    const deadline = sent + 15_000;
    while (!arrivals.has(run.run.run_id) && Date.now() < deadline) await sleep(2);
    const arrived = arrivals.get(run.run.run_id);
    if (arrived === undefined) throw new Error(`no anomaly for trial ${i} within 15 s`);
    latencies.push(arrived - sent);
    await sleep(100);
  }
  await Promise.all([stop(detector), stop(aggregator)]);
  await reader.disconnect();
  await producer.disconnect();
  const mine = (await admin.listTopics()).filter((topic) => topic.endsWith(`.${ns}`));
  await admin.deleteTopics({ topics: mine }).catch(() => undefined);
  await admin.disconnect();
  rmSync(stateDir, { recursive: true, force: true });
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(
    `detector latency through aggregator + detector: run published on runs.priced -> anomaly committed, ${trials} trials: p50 ${round(p50)} ms, p99 ${round(p99)} ms, max ${Math.max(...latencies)} ms`,
  );
  console.log(JSON.stringify({ detector_latency_p50_ms: round(p50), detector_latency_p99_ms: round(p99) }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
