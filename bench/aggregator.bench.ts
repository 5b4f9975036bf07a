/**
 * The aggregator: (1) its core alone, runs/s on one core; (2) memory per tracked agent holding 15 days of daily
 * state; (3) runs/s through the real service process (transactional, changelog and agent-stats written) from a full
 * runs.priced topic, one partition, so the figure is per partition-consumer; (4) the time a new process takes to
 * restore 10,000 agents from the changelog before its first batch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Admin } from 'kafkajs';
import { agentKey, topicsIn, type PricedRun } from '@libs/contracts';
import { AvroSerde, BatchProducer, createKafka, provisionTopics } from '@libs/kafka';
import { JsonLogger } from '@libs/observability';
import { commonSpec, parseConfig } from '@libs/config';
import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { DEFAULT_OPTIONS, PartitionState } from '../services/aggregator/src/core/aggregator';
import { aggregationSettings } from '../services/aggregator/src/core/agent-state';
import { FileColdAgents } from '../services/aggregator/src/file-cold-agents';
import { pricedRun, runEvent } from '../test/support/fixtures';
import { metricValue, peakRssMb, quick, round, startBuiltService, stop } from './support';

const DAY = 86_400_000;
/** The default team's settings (UTC, no quality threshold, a 14-day baseline, sessions idle after 30 minutes). */
const settings = aggregationSettings(DEFAULT_SETTINGS, DEFAULT_OPTIONS.maxBaselineDays);
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function makeRuns(n: number, agents: number, start: number, spanMs: number, prefix: string): PricedRun[] {
  return Array.from({ length: n }, (_, i) => {
    const at = start + Math.floor((i * spanMs) / n);
    return pricedRun(
      runEvent({
        run_id: `${prefix}-${i}`,
        agent_id: `agent-${i % agents}`,
        team: 'bench',
        finished_at: at,
        started_at: at - 800,
        session_id: `s-${i % agents}-${Math.floor(i / (agents * 8))}`,
        customer_id: i % 5 ? `cust-${i % 37}` : null,
      }),
      1_000_000 + (i % 1000) * 1000,
    );
  });
}

function coreThroughput(): number {
  const runs = makeRuns(quick ? 200_000 : 1_000_000, 2000, Date.UTC(2026, 0, 1), 2 * DAY, 'core');
  const p = new PartitionState(0, DEFAULT_OPTIONS, () => settings);
  const started = process.hrtime.bigint();
  for (let i = 0; i < runs.length; i += 4000) p.process(runs.slice(i, i + 4000));
  return runs.length / (Number(process.hrtime.bigint() - started) / 1e9);
}

/**
 * Heap per agent for agents with one run on each of 15 days, no open session (their state after the sessions close),
 * all kept in memory; then the same agents out of memory (idle), in the state directory's file.
 */
function memoryPerAgent(): {
  heapBytes: number;
  withSessionsBytes: number;
  dailyStateBytes: number;
  sample: readonly [string, string, number];
} {
  const agents = 10_000;
  const p = new PartitionState(
    0,
    { ...DEFAULT_OPTIONS, dedupeMaxIds: 1000, idleUnloadMs: Infinity },
    () => settings,
  );
  const start = Date.UTC(2026, 0, 1);
  gc();
  const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  for (let d = 0; d < 15; d++) {
    const runs = Array.from({ length: agents }, (_, a) =>
      pricedRun(
        runEvent({
          run_id: `m-${d}-${a}`,
          agent_id: `agent-${a}`,
          team: 'bench',
          finished_at: start + d * DAY + a,
        }),
        1_000_000,
      ),
    );
    for (let i = 0; i < runs.length; i += 4000) p.process(runs.slice(i, i + 4000));
  }
  // close every session (each run was its own tree): the windows and baseline remain, plus 15 closed-session costs
  for (const a of p.agents.values()) a.closeIdleSessions(start + 20 * DAY, 0);
  gc();
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const withSessions = used();
  for (const a of p.agents.values()) a.closed = undefined;
  gc();
  const windowsOnly = used();
  const one = p.agents.values().next().value!;
  const sample = [`bench/${one.agentId}`, JSON.stringify(one), one.days.newestEnd()] as const;
  return {
    heapBytes: (windowsOnly - before) / agents,
    withSessionsBytes: (withSessions - before) / agents,
    dailyStateBytes: one.days.data.byteLength,
    sample,
  };
}

/**
 * Idle agents out of memory: the heap each keeps there (its key and its place in the cold store's index, measured over
 * 100,000 of them so the figure rises above the collector's noise) and its bytes in the file (an agent of the memory
 * measurement above, in its changelog form).
 */
function unloaded(sample: readonly [string, string, number]): {
  unloadedHeapBytes: number;
  unloadedDiskBytes: number;
} {
  const n = 100_000;
  const dir = mkdtempSync(join(tmpdir(), 'bench-aggregator-'));
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const cold = new FileColdAgents(join(dir, 'partition-0.agents'));
  for (let i = 0; i < n; i++) cold.put(`bench/agent-${i}`, sample[1], sample[2]);
  gc();
  gc();
  const unloadedHeapBytes = (process.memoryUsage().heapUsed - before) / n;
  const unloadedDiskBytes = cold.fileBytes / n;
  cold.close();
  rmSync(dir, { recursive: true, force: true });
  return { unloadedHeapBytes, unloadedDiskBytes };
}

async function committed(admin: Admin, group: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

async function main(): Promise<void> {
  const core = coreThroughput();
  console.log(`aggregator core: ${round(core)} runs/s on one core (slices of 4,000, 2,000 agents)`);
  const { sample, ...kept } = memoryPerAgent();
  const mem = { ...kept, ...unloaded(sample) }; // measured once the agents in memory are gone
  console.log(
    `aggregator memory per agent with 15 days of daily state: ${round(mem.heapBytes)} bytes (the daily ring itself ${mem.dailyStateBytes}); ${round(mem.withSessionsBytes)} bytes with its 15 closed-session costs kept for the median`,
  );
  console.log(
    `aggregator per idle agent, out of memory: ${round(mem.unloadedHeapBytes)} bytes of heap (the index), ${round(mem.unloadedDiskBytes)} bytes on disk`,
  );

  const config = parseConfig(commonSpec, { ...process.env, KAFKA_TOPIC_PARTITIONS: '1' });
  const ns = `bench${Date.now().toString(36)}`;
  const T = topicsIn(ns);
  const kafka = createKafka(config, 'bench-aggregator', new JsonLogger({ bench: 'aggregator' }, 'error'));
  const admin = kafka.admin();
  await admin.connect();
  await provisionTopics(admin, config, [T.runsPriced, T.agentStats]);
  const serde = await AvroSerde.create(config, [T.runsPriced, T.agentStats]);
  const producer = new BatchProducer(kafka, { lingerMs: 5 });
  await producer.connect();
  const agents = 10_000;
  const total = quick ? 100_000 : 300_000;
  const runs = makeRuns(total, agents, Date.now() - 15 * DAY, 15 * DAY - 60_000, ns);
  for (let i = 0; i < runs.length; i += 5000)
    await producer.send(
      runs.slice(i, i + 5000).map((r) => ({
        topic: T.runsPriced.name,
        key: agentKey(r.team, r.run.agent_id),
        value: serde.encode(T.runsPriced, r),
      })),
    );
  const group = `aggregator-${ns}`;
  const env = {
    BURNRATE_TOPIC_NAMESPACE: ns,
    CONSUMER_GROUP: group,
    INSTANCE_ID: ns,
    KAFKA_TOPIC_PARTITIONS: '1',
  };
  let svc = await startBuiltService('aggregator', 18592, env);
  const started = Date.now();
  while ((await committed(admin, group, T.runsPriced.name)) < total)
    await new Promise((r) => setTimeout(r, 100));
  const seconds = (Date.now() - started) / 1000;
  const rss = peakRssMb(svc.pid);
  await stop(svc);
  const service = total / seconds;
  console.log(
    `aggregator service: ${total} runs over ${agents} agents and 15 days, one partition, transactional: ${round(service)} runs/s (${round(seconds, 1)} s incl. restore and group join), peak RSS ${rss} MB`,
  );

  // A new process: its first batch waits for the restore of all 10,000 agents from the changelog.
  svc = await startBuiltService('aggregator', 18592, env);
  const wake = makeRuns(10, agents, Date.now() - 60_000, 1000, `${ns}-wake`);
  await producer.send(
    wake.map((r) => ({
      topic: T.runsPriced.name,
      key: agentKey(r.team, r.run.agent_id),
      value: serde.encode(T.runsPriced, r),
    })),
  );
  while ((await committed(admin, group, T.runsPriced.name)) < total + wake.length)
    await new Promise((r) => setTimeout(r, 50));
  const store = { store: 'aggregator' };
  const restore = await metricValue(18592, 'burnrate_state_restore_seconds_sum', store);
  const restores = await metricValue(18592, 'burnrate_state_restore_seconds_count', store);
  const records = await metricValue(18592, 'burnrate_state_restored_records_total', store);
  await stop(svc);
  console.log(
    `aggregator restore: ${agents} agents from the changelog in ${round(restore, 2)} s (${restores} restore(s), ${records} changelog records)`,
  );
  await producer.disconnect();
  const mine = (await admin.listTopics()).filter((topic) => topic.endsWith(`.${ns}`));
  await admin.deleteTopics({ topics: mine }).catch(() => undefined);
  await admin.disconnect();
  console.log(
    JSON.stringify({
      aggregator_core_runs_per_s: round(core),
      aggregator_runs_per_s_per_partition: round(service),
      aggregator_heap_bytes_per_agent: round(mem.heapBytes),
      aggregator_heap_bytes_per_agent_with_sessions: round(mem.withSessionsBytes),
      aggregator_daily_state_bytes_per_agent: mem.dailyStateBytes,
      aggregator_unloaded_heap_bytes_per_agent: round(mem.unloadedHeapBytes),
      aggregator_unloaded_disk_bytes_per_agent: round(mem.unloadedDiskBytes),
      aggregator_restore_10k_agents_s: round(restore, 2),
      aggregator_peak_rss_mb: rss,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
