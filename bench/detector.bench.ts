/**
 * Detector latency: from the run that crosses a threshold being published on runs.priced to its anomaly being
 * readable (committed) on the anomalies topic, through the real service process on the real broker. Each trial is a
 * run of a model the rate card cannot price (the unpriced-model rule fires on the first such run), against an agent
 * with a few days of history already in the detector's ledgers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { agentKey, topicsIn, type PricedRun } from '@libs/contracts';
import { AvroSerde, BatchProducer, createKafka, provisionTopics } from '@libs/kafka';
import { JsonLogger } from '@libs/observability';
import { commonSpec, parseConfig } from '@libs/config';
import type { Anomaly } from '../services/detector/src/core/anomaly';
import { agentFleet, generateRuns } from '../services/detector/src/testing/synthetic';
import { quick, round, stop } from './support';

const ROOT = resolve(__dirname, '..');
const DAY = 86_400_000;

async function startDetector(port: number, env: Record<string, string>): Promise<ChildProcess> {
  const built = resolve(ROOT, 'dist/services/detector/src/main.js');
  const args = existsSync(built)
    ? [built]
    : ['-r', '@swc-node/register', resolve(ROOT, 'services/detector/src/main.ts')];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`detector exited with ${child.exitCode}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return child;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error('detector not ready');
    await new Promise((r) => setTimeout(r, 250));
  }
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function main(): Promise<void> {
  const config = parseConfig(commonSpec, process.env);
  const ns = `bench${Date.now().toString(36)}`;
  const T = topicsIn(ns);
  const kafka = createKafka(config, 'bench-detector', new JsonLogger({ bench: 'detector' }, 'error'));
  const admin = kafka.admin();
  await admin.connect();
  await provisionTopics(admin, config, [T.runsPriced, T.anomalies]);
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

  const detector = await startDetector(18593, {
    BURNRATE_TOPIC_NAMESPACE: ns,
    CONSUMER_GROUP: `detector-${ns}`,
    INSTANCE_ID: ns,
  });
  const group = `detector-${ns}`;
  for (let committed = 0; committed < history.length;) {
    await new Promise((r) => setTimeout(r, 200));
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [T.runsPriced.name] });
    committed = offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  }

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
    const deadline = sent + 10_000;
    while (!arrivals.has(run.run.run_id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    const arrived = arrivals.get(run.run.run_id);
    if (arrived === undefined) throw new Error(`no anomaly for trial ${i} within 10 s`);
    latencies.push(arrived - sent);
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop(detector);
  await reader.disconnect();
  await producer.disconnect();
  await admin.disconnect();
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  console.log(
    `detector: run published -> anomaly committed, ${trials} trials: p50 ${round(p50)} ms, p99 ${round(p99)} ms, max ${Math.max(...latencies)} ms`,
  );
  console.log(JSON.stringify({ detector_latency_p50_ms: round(p50), detector_latency_p99_ms: round(p99) }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
