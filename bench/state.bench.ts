/**
 * Per-agent state, and what restarts and more replicas do with it. The aggregator owns every per-agent figure (day
 * and hour buckets, baselines, sessions, signals); the detector keeps only each agent's open incidents.
 *
 * (1) `detector_heap_bytes_per_agent`: in process, the heap one `Detector` (the state of one partition of agent-stats)
 * holds after judging two weeks of agent-stats for 3,000 agents (600 with --quick). The records are made first, by the
 * aggregator's core (`PartitionState`, default options) from agentFleet traffic at an eighth of its volume (2-50 runs a
 * day, sessions, customers, features) in event-time order, in slices of 4,000 runs as the service commits them; one
 * agent in 50 has an incident on the last day (a model swap, a retry loop or a backfill loop, in turn) so that some
 * incidents are open at the end. They are kept Avro-encoded (the agent-stats schema), so the strings the detector keeps
 * are decoded for it and count. A fresh Detector then judges them, slice by slice (`detectBatch`, as the service). Its
 * heap is what a full collection frees when it is released: the heap with it held minus the heap without it (both after
 * full collections), so the records, the code and module-level caches (shared by every partition) do not count. That
 * is divided by the agents judged: it is small, since only agents with an open incident are kept (their count, and
 * the heap of each, are printed).
 *
 * (2) `state_restore_s_per_100k_agents`: the aggregator's restore (it owns the per-agent state). The real service
 * (dist/), one process, 6 partitions, fed 14 days of runs for N = 24,000 agents (5,000 with --quick) at one run a day,
 * each in its own session: each agent holds two weeks of daily buckets and one open session. Runs are published agent
 * by agent, so each agent's history lands in one or two slices and its changelog holds about what a compacted one
 * would (its record, its sessions' records and tombstones) rather than one version per slice. (So most runs are late
 * for the partition's stream time, which changes their marking on agent-stats, not the state they leave.) The process
 * is stopped, a new one started, one run sent to each partition; the first slice restores all six partitions from the
 * changelog (into the state directory: restored agents wait on disk until their next run), and
 * `burnrate_state_restore_seconds_sum{store="aggregator"}` is that time, scaled to 100,000 agents (× 100,000 / N).
 *
 * (3) `scaleout_heap_mb_1` / `scaleout_heap_mb_3`: the aggregator holding the same N agents over the same 6 partitions
 * with 1 replica, then (a fresh namespace) with 3 replicas, the largest of the three reported; `scaleout_idle_heap_mb`
 * is one idle replica (ready, in its group, no records yet). Each figure is `nodejs_heap_size_used_bytes` from
 * /metrics once runs.priced is committed, settled: the service runs with a preloaded SIGUSR2 handler that calls gc()
 * (full collections), then /metrics is read; three such samples, the median reported. N is chosen so the agents'
 * state dwarfs the idle heap; with --quick it does not: a smoke check only.
 *
 * Both service phases run with IDLE_UNLOAD_MS of 30 days (the aggregator otherwise moves agents idle for a day of
 * stream time out of memory, to its state directory: here every agent stays in memory, which is what is measured)
 * and DEDUPE_MAX_IDS=1000: published agent by agent, stream time reaches the newest run at the first agent, so nothing
 * would leave the dedupe window and every run id published (up to 200,000 a partition) would stay in memory, which
 * live traffic in event-time order never does (it keeps 15 minutes' worth).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as avro from 'avsc';
import type { Admin } from 'kafkajs';
import { Topics, agentKey, loadSchemas, topicsIn, type AgentStats, type PricedRun } from '@libs/contracts';
import { AvroSerde, BatchProducer, createKafka, partitionFor, provisionTopics } from '@libs/kafka';
import { JsonLogger } from '@libs/observability';
import { commonSpec, parseConfig } from '@libs/config';
import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { aggregationSettings } from '../services/aggregator/src/core/agent-state';
import { DEFAULT_OPTIONS, PartitionState } from '../services/aggregator/src/core/aggregator';
import { Detector } from '../services/detector/src/core/detector';
import { detectBatch } from '../services/detector/src/detect-batch';
import { agentFleet, generateRuns, type Incident } from '../services/detector/src/testing/synthetic';
import { pricedRun, runEvent } from '../test/support/fixtures';
import { metricValue, quick, round, scrapeMetrics, startBuiltService, stop } from './support';

const DAY = 86_400_000;
const PARTITIONS = 6;
const DAYS = 14;
const MB = 2 ** 20;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const since = (t: number) => round((Date.now() - t) / 1000, 1);

/** agent-stats records as on the topic (Avro binary, the same schema), to keep many of them compactly. */
const statsType = avro.Type.forSchema(
  loadSchemas().get(Topics.agentStats.valueSchema)!.schema as avro.Schema,
  {
    wrapUnions: false,
  },
);

/**
 * (1, first) Two weeks of agent-stats from the aggregator's core: agentFleet traffic at an eighth of its volume, one
 * agent in 50 with an incident on the last day; each slice's records, encoded.
 */
function agentStatsOf(agents: number): {
  slices: Buffer[][];
  runs: number;
  records: number;
  incidents: number;
} {
  const fleet = agentFleet(agents, 11).map((a) => ({
    ...a,
    runsPerDay: Math.max(2, Math.round(a.runsPerDay / 8)),
  }));
  const start = Math.floor(Date.now() / DAY) * DAY - DAYS * DAY;
  const onset = start + (DAYS - 1) * DAY + 10 * 3_600_000;
  const incidents = fleet
    .filter((_, i) => i % 50 === 0)
    .map(({ agentId }, k): Incident =>
      k % 3 === 0
        ? { kind: 'model_swap', agentId, onset, to: 'claude-opus' }
        : k % 3 === 1
          ? { kind: 'retry_loop', agentId, onset, retriesPerSession: 40, retryEveryMs: 2000 }
          : { kind: 'backfill_loop', agentId, onset, everyMs: 15_000, contextFactor: 16 },
    );
  const state = new PartitionState(0, DEFAULT_OPTIONS, () =>
    aggregationSettings(DEFAULT_SETTINGS, DEFAULT_OPTIONS.maxBaselineDays),
  );
  const slices: Buffer[][] = [];
  let slice: PricedRun[] = [];
  let runs = 0;
  let records = 0;
  const flush = () => {
    const stats = state.process(slice).stats.map((s) => statsType.toBuffer(s.value));
    records += stats.length;
    slices.push(stats);
    slice = [];
  };
  for (const r of generateRuns({ start, days: DAYS, agents: fleet, seed: 11, incidents })) {
    slice.push(r);
    runs++;
    if (slice.length === 4000) flush();
  }
  flush();
  return { slices, runs, records, incidents: incidents.length };
}

/** Holds the detector being measured: released by deleting it here (no other reference to it is left anywhere). */
const held: { detector?: Detector } = {};

/** A fresh Detector judges every slice; returns the anomalies it emitted. */
function judge(slices: Buffer[][]): number {
  const detector = new Detector(() => DEFAULT_SETTINGS);
  let anomalies = 0;
  for (const slice of slices)
    anomalies += detectBatch(
      detector,
      slice.map((b) => statsType.fromBuffer(b) as AgentStats),
    ).anomalies.length;
  held.detector = detector;
  return anomalies;
}

/** The open incidents the held detector keeps: agents, and the bytes of their changelog records. */
function kept(): { agents: number; changelogBytes: number } {
  const d = held.detector!;
  let changelogBytes = 0;
  for (const [id] of d.agents) changelogBytes += d.persisted(`agent:${id}`)?.length ?? 0;
  return { agents: d.agents.size, changelogBytes };
}

const settledHeap = async () => {
  for (let i = 0; i < 3; i++) {
    await sleep(20);
    gc();
  }
  return process.memoryUsage().heapUsed;
};

/** (1) The heap a Detector holds per agent after judging two weeks of agent-stats. */
async function detectorHeapPerAgent() {
  const agents = quick ? 600 : 3000;
  let t = Date.now();
  const { slices, runs, records, incidents } = agentStatsOf(agents);
  const built = since(t);
  t = Date.now();
  const anomalies = judge(slices);
  const judged = since(t);
  const open = kept();
  const withIt = await settledHeap();
  delete held.detector;
  const without = await settledHeap();
  const bytes = withIt - without;
  return { agents, runs, records, incidents, built, judged, anomalies, open, bytes };
}

/** The service phases' agents: one run a day for 14 days, each in its own session, agent by agent. */
function agentRuns(a: number, start: number, prefix: string): PricedRun[] {
  return Array.from({ length: DAYS }, (_, d) => {
    const at = start + d * DAY + 8 * 3_600_000 + (a % 600) * 60_000;
    return pricedRun(
      runEvent({
        run_id: `${prefix}-${a}-${d}`,
        agent_id: `agent-${a}`,
        team: `team-${a % 20}`,
        finished_at: at,
        started_at: at - 5000,
        received_at: at + 100,
        session_id: `s-${a}-${d}`,
        customer_id: `cust-${(a + d) % 50}`,
        feature: `feature-${a % 7}`,
      }),
      2_000_000 + ((a * 7919 + d * 104_729) % 1000) * 1000,
    );
  });
}

const partitionOf = (key: string) => partitionFor(key, PARTITIONS);

async function committed(admin: Admin, group: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

async function untilCommitted(admin: Admin, group: string, topic: string, total: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (let done = 0; done < total; done = await committed(admin, group, topic)) {
    if (Date.now() > deadline) throw new Error(`${group}: ${done} of ${total} records committed after 300 s`);
    await sleep(100);
  }
}

/** Until the group is Stable with `members` members (the replicas joined, partitions assigned). */
async function untilStable(admin: Admin, group: string, members: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const [g] = (await admin.describeGroups([group])).groups;
    if (g.state === 'Stable' && g.members.length === members) return;
    if (Date.now() > deadline)
      throw new Error(`group ${group} not stable: ${g.state}, ${g.members.length} of ${members} members`);
    await sleep(200);
  }
}

/** A script each service preloads: SIGUSR2 runs full collections (the service runs with --expose-gc). */
function gcPreload(dir: string): string {
  const file = join(dir, 'gc-on-sigusr2.js');
  writeFileSync(file, "process.on('SIGUSR2', () => { globalThis.gc(); globalThis.gc(); });\n");
  return file;
}

/** The service's heap in MB after full collections: three samples, the median. */
async function settledHeapMb(port: number, pid: number | undefined): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    process.kill(pid!, 'SIGUSR2');
    await sleep(200);
    samples.push((await metricValue(port, 'nodejs_heap_size_used_bytes')) / MB);
  }
  return median(samples);
}

/** Agents an aggregator replica holds in memory, and out of it (its per-partition gauges, summed). */
async function agentsHeld(port: number): Promise<{ memory: number; unloaded: number }> {
  const samples = await scrapeMetrics(port);
  const sum = (name: string) => samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
  return { memory: sum('burnrate_aggregator_agents'), unloaded: sum('burnrate_aggregator_agents_unloaded') };
}

async function main(): Promise<void> {
  const benchStarted = Date.now();
  const mem = await detectorHeapPerAgent();
  console.log(
    `detector heap per agent: ${round(mem.bytes / mem.agents)} bytes (${mem.agents} agents, ${mem.runs} runs over ${DAYS} days -> ${mem.records} agent-stats records by the aggregator core in ${mem.built} s, judged in ${mem.judged} s; ${mem.anomalies} anomaly records)`,
  );
  console.log(
    `detector: ${mem.open.agents} of ${mem.agents} agents with an open incident (${mem.incidents} given one on the last day), ${round(mem.bytes / 1024, 1)} KB in all, ${round(mem.bytes / Math.max(1, mem.open.agents))} bytes each (changelog JSON ${round(mem.open.changelogBytes / Math.max(1, mem.open.agents))} bytes each)`,
  );

  const config = parseConfig(commonSpec, { ...process.env, KAFKA_TOPIC_PARTITIONS: String(PARTITIONS) });
  const kafka = createKafka(config, 'bench-state', new JsonLogger({ bench: 'state' }, 'error'));
  const admin = kafka.admin();
  await admin.connect();
  const producer = new BatchProducer(kafka, { lingerMs: 5 });
  await producer.connect();
  const scratch = mkdtempSync(join(tmpdir(), 'bench-state-'));
  const preload = gcPreload(scratch);
  const N = quick ? 5000 : 24_000;
  const start = Math.floor(Date.now() / DAY) * DAY - DAYS * DAY;
  const base = `bench${Date.now().toString(36)}`;
  const namespaces: string[] = [];

  /** A namespace whose runs.priced has 6 partitions, and the aggregator's settings for it. */
  const phase = async (suffix: string) => {
    const ns = `${base}${suffix}`;
    namespaces.push(ns);
    const T = topicsIn(ns);
    await provisionTopics(admin, config, [T.runsPriced]);
    const serde = await AvroSerde.create(config, [T.runsPriced]);
    const group = `aggregator-${ns}`;
    const env = (replica: number) => ({
      BURNRATE_TOPIC_NAMESPACE: ns,
      CONSUMER_GROUP: group,
      INSTANCE_ID: `${ns}-${replica}`,
      KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
      STATE_DIR: scratch,
      IDLE_UNLOAD_MS: String(30 * DAY),
      DEDUPE_MAX_IDS: '1000',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --require=${preload}`.trim(),
    });
    const send = (runs: PricedRun[]) =>
      producer.send(
        runs.map((r) => ({
          topic: T.runsPriced.name,
          key: agentKey(r.team, r.run.agent_id),
          value: serde.encode(T.runsPriced, r),
        })),
      );
    const publish = async () => {
      for (let a = 0; a < N; a += 500)
        await send(
          Array.from({ length: Math.min(500, N - a) }, (_, i) => agentRuns(a + i, start, ns)).flat(),
        );
      return N * DAYS;
    };
    return { ns, T, group, env, send, publish };
  };

  // One replica: idle, then holding N agents; then a new process restores them.
  const one = await phase('a');
  const port = 18594;
  let svc = await startBuiltService('aggregator', port, one.env(0));
  await untilStable(admin, one.group, 1);
  const idle = await settledHeapMb(port, svc.pid);
  let t = Date.now();
  const total = await one.publish();
  const published = since(t);
  await untilCommitted(admin, one.group, one.T.runsPriced.name, total);
  const consumed = since(t);
  const heap1 = await settledHeapMb(port, svc.pid);
  const held1 = await agentsHeld(port);
  await stop(svc);
  console.log(
    `aggregator, 1 replica: ${total} runs of ${N} agents published in ${published} s, consumed in ${consumed} s; heap ${round(heap1, 1)} MB holding ${held1.memory} agents in memory, ${held1.unloaded} out of it (idle ${round(idle, 1)} MB: ${round(((heap1 - idle) * MB) / Math.max(1, held1.memory))} bytes an agent)`,
  );

  t = Date.now();
  svc = await startBuiltService('aggregator', port, one.env(0));
  await untilStable(admin, one.group, 1);
  const wake = Array.from({ length: PARTITIONS }, (_, p) => {
    let a = 0;
    while (partitionOf(agentKey(`team-${a % 20}`, `agent-${a}`)) !== p) a++;
    const run = agentRuns(a, start, `${one.ns}-wake`)[0];
    const at = Date.now() - 60_000;
    return {
      ...run,
      priced_at: at,
      run: { ...run.run, finished_at: at, started_at: at - 5000, received_at: at },
    };
  });
  await one.send(wake);
  await untilCommitted(admin, one.group, one.T.runsPriced.name, total + wake.length);
  const store = { store: 'aggregator' };
  const restore = await metricValue(port, 'burnrate_state_restore_seconds_sum', store);
  const restores = await metricValue(port, 'burnrate_state_restore_seconds_count', store);
  const records = await metricValue(port, 'burnrate_state_restored_records_total', store);
  const partitions = await metricValue(port, 'burnrate_state_partitions', store);
  const restoredHeap = await settledHeapMb(port, svc.pid);
  const held = await agentsHeld(port);
  await stop(svc);
  const per100k = (restore * 100_000) / N;
  console.log(
    `aggregator restore: ${N} agents over ${partitions} partitions (${records} changelog records, ${round(records / N, 1)} an agent) in ${round(restore, 2)} s over ${restores} restore(s): ${round(per100k, 1)} s per 100,000 agents; after it ${held.memory} agents in memory (the wake runs'), ${held.unloaded} on disk, heap ${round(restoredHeap, 1)} MB (${since(t)} s from start to stop)`,
  );

  // Three replicas, a fresh namespace: the same agents divided.
  const three = await phase('b');
  const ports = [18595, 18596, 18597];
  const svcs = await Promise.all(ports.map((p, i) => startBuiltService('aggregator', p, three.env(i))));
  await untilStable(admin, three.group, 3);
  const idle3 = await Promise.all(ports.map((p, i) => settledHeapMb(p, svcs[i].pid)));
  t = Date.now();
  await three.publish();
  await untilCommitted(admin, three.group, three.T.runsPriced.name, total);
  const consumed3 = since(t);
  const heaps3 = await Promise.all(ports.map((p, i) => settledHeapMb(p, svcs[i].pid)));
  const held3 = await Promise.all(ports.map((p) => agentsHeld(p)));
  await Promise.all(svcs.map((s) => stop(s)));
  const heap3 = Math.max(...heaps3);
  console.log(
    `aggregator, 3 replicas: consumed in ${consumed3} s; heaps ${heaps3.map((h) => round(h, 1)).join(' / ')} MB holding ${held3.map((h) => h.memory).join(' / ')} agents (idle ${idle3.map((h) => round(h, 1)).join(' / ')} MB); largest ${round(heap3, 1)} MB vs ${round(heap1, 1)} MB with one`,
  );

  await producer.disconnect();
  const mine = (await admin.listTopics()).filter((topic) =>
    namespaces.some((ns) => topic.endsWith(`.${ns}`)),
  );
  await admin.deleteTopics({ topics: mine }).catch(() => undefined);
  await admin.disconnect();
  rmSync(scratch, { recursive: true, force: true });
  console.log(`state bench: ${since(benchStarted)} s`);
  console.log(
    JSON.stringify({
      detector_heap_bytes_per_agent: round(mem.bytes / mem.agents),
      detector_agents_with_open_incidents: mem.open.agents,
      state_restore_s: round(restore, 2),
      state_restore_agents: N,
      state_restore_s_per_100k_agents: round(per100k, 1),
      scaleout_agents: N,
      scaleout_idle_heap_mb: round(idle, 1),
      scaleout_heap_mb_1: round(heap1, 1),
      scaleout_heap_mb_3: round(heap3, 1),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
