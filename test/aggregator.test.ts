import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { agentKey, topicsIn, type AgentStats, type PricedRun } from '@libs/contracts';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { pricedRun, runEvent } from './support/fixtures';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const DAY = 86_400_000;
const MIN = 60_000;
const START = Date.UTC(2026, 2, 2);
const DAYS = 17;
const AGENTS = 24;
const RUNS_PER_DAY = 60;

/**
 * The stream every scenario replays: 24 agents, 17 days, 60 runs a day each, with known costs; inside every
 * 2-hour span the order is shuffled (out of order within the grace period), and one run in 25 is sent again a few
 * dozen records later (a client retry). Returns the records in send order and the expected daily spend per agent.
 */
function scenario(team: string) {
  const runs: PricedRun[] = [];
  const daily = new Map<string, number[]>();
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let d = 0; d < DAYS; d++) {
    for (let a = 0; a < AGENTS; a++) {
      const agent = `agent-${a}`;
      const perDay = daily.get(agent) ?? daily.set(agent, []).get(agent)!;
      // agent 3 has a day without runs (counts as zero in its baseline)
      const n = a === 3 && d === 9 ? 0 : RUNS_PER_DAY + ((a * 7 + d * 3) % 11);
      let spend = 0;
      for (let k = 0; k < n; k++) {
        const cost = (a + 1) * 1_000_000 + ((d * 31 + k * 17) % 97) * 100_000;
        spend += cost;
        const at = START + d * DAY + Math.floor((k * DAY) / n) + a;
        runs.push(
          pricedRun(
            runEvent({
              run_id: `${team}-${a}-${d}-${k}`,
              agent_id: agent,
              team,
              finished_at: at,
              started_at: at - 500,
              session_id: `s-${a}-${d}-${Math.floor(k / 6)}`,
              customer_id: k % 4 === 0 ? null : 'acme',
            }),
            cost,
          ),
        );
      }
      perDay.push(spend);
    }
  }
  runs.sort((x, y) => x.run.finished_at - y.run.finished_at);
  const spans = new Map<number, PricedRun[]>();
  for (const r of runs) {
    const k = Math.floor(r.run.finished_at / (2 * 60 * MIN));
    (spans.get(k) ?? spans.set(k, []).get(k)!).push(r);
  }
  const shuffled: PricedRun[] = [];
  for (const span of spans.values()) {
    for (let i = span.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [span[i], span[j]] = [span[j], span[i]];
    }
    shuffled.push(...span);
  }
  const withRetries: PricedRun[] = [];
  shuffled.forEach((r, i) => {
    withRetries.push(r);
    if (i % 25 === 0 && i >= 40) withRetries.push(shuffled[i - 40]);
  });
  return { runs: withRetries, unique: shuffled.length, daily };
}

/** Each agent's number of (distinct) runs on the last day: how to tell that its final stats have arrived. */
function lastDayRunsOf(team: string, runs: PricedRun[], daily: Map<string, number[]>): Map<string, number> {
  const seen = new Set<string>();
  const counts = new Map([...daily.keys()].map((agent) => [`${team}/${agent}`, 0]));
  for (const r of runs) {
    if (r.run.finished_at < START + (DAYS - 1) * DAY || seen.has(r.run.run_id)) continue;
    seen.add(r.run.run_id);
    const key = `${team}/${r.run.agent_id}`;
    counts.set(key, counts.get(key)! + 1);
  }
  return counts;
}

function expectedBaseline(days: number[]) {
  const window = days.slice(-15, -1); // the 14 complete days before the last
  const mean = window.reduce((a, b) => a + b, 0) / window.length;
  const variance = window.reduce((a, x) => a + (x - mean) ** 2, 0) / (window.length - 1);
  return { mean, stddev: Math.sqrt(variance) };
}

describe('aggregator service (own processes, transactional, changelog state, real stack)', () => {
  let kafka: Kafka;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    await migrated();
    kafka = testKafka(config);
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
  });

  async function setUp(ns: string) {
    const T = topicsIn(ns);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, [T.runsPriced, T.agentStats]);
    await admin.disconnect();
    const serde = await AvroSerde.create(config, [T.runsPriced, T.agentStats]);
    return { T, serde };
  }

  async function publish(ns: string, runs: PricedRun[]): Promise<void> {
    const { T, serde } = await setUp(ns);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    for (let i = 0; i < runs.length; i += 2000)
      await producer.send(
        runs.slice(i, i + 2000).map((r) => ({
          topic: T.runsPriced.name,
          key: agentKey(r.team, r.run.agent_id),
          value: serde.encode(T.runsPriced, r),
        })),
      );
    await producer.disconnect();
  }

  async function start(
    ns: string,
    port: number,
    instance = 'a',
    env: Record<string, string> = {},
  ): Promise<ServiceProcess> {
    const svc = await startService('aggregator', port, {
      BURNRATE_TOPIC_NAMESPACE: ns,
      CONSUMER_GROUP: `aggregator-${ns}`,
      INSTANCE_ID: instance,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      KAFKA_TOPIC_PARTITIONS: '3',
      SETTINGS_POLL_MS: '500',
      ...env,
    });
    services.push(svc);
    return svc;
  }

  /** The latest agent-stats record per agent, once every agent's last day shows `lastDayRuns` runs. */
  async function finalStats(ns: string, lastDayRuns: Map<string, number>): Promise<Map<string, AgentStats>> {
    const { T, serde } = await setUp(ns);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const records = await readTopic<AgentStats>(kafka, T.agentStats, {
        expected: lastDayRuns.size,
        serde,
        settleMs: 2000,
        timeoutMs: 20_000,
      });
      const latest = new Map<string, AgentStats>();
      for (const r of records) latest.set(r.key!, r.value);
      const done = [...lastDayRuns].every(([key, runs]) => latest.get(key)?.day.runs === runs);
      if (done || Date.now() > deadline) return latest;
    }
  }

  /** Sum of a metric's samples whose labels include `labels` (e.g. outcome="counted"). */
  async function metric(svc: ServiceProcess, name: string, labels: string): Promise<number> {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }

  it('gives exact daily stats and baselines from shuffled, retried runs; the same after a SIGKILL mid-stream and with two replicas', async () => {
    const team = `team-${uid()}`;
    const { runs, unique, daily } = scenario(team);
    const lastDayRuns = lastDayRunsOf(team, runs, daily);
    const [solo, crash, pair] = [`t${uid()}`, `t${uid()}`, `t${uid()}`];
    await Promise.all([publish(solo, runs), publish(crash, runs), setUp(pair)]);

    // 1. One uninterrupted replica: the reference, checked against independent arithmetic.
    const one = await start(solo, 19102);
    const reference = await finalStats(solo, lastDayRuns);
    expect(await metric(one, 'burnrate_aggregator_runs_total', 'outcome="counted"')).toBe(unique);
    expect(await metric(one, 'burnrate_aggregator_runs_total', 'outcome="duplicate"')).toBe(
      runs.length - unique,
    );
    expect(reference.size).toBe(AGENTS);
    for (const [agent, days] of daily) {
      const s = reference.get(`${team}/${agent}`)!;
      const e = expectedBaseline(days);
      expect(s.day.start).toBe(START + (DAYS - 1) * DAY);
      expect(s.day.spend_nanos).toBe(days.at(-1));
      expect(s.baseline.days).toBe(14);
      expect(s.baseline.spend_mean_nanos).toBeCloseTo(e.mean, 2);
      expect(s.baseline.spend_stddev_nanos).toBeCloseTo(e.stddev, 2);
      expect(s.late).toBe(false);
    }
    await one.stop();

    // The recorder stores them and the api serves them, to the agents' team only.
    const recorder = await startService('recorder', 19142, {
      BURNRATE_TOPIC_NAMESPACE: solo,
      CONSUMER_GROUP: `recorder-${solo}`,
    });
    const api = await startService('api', 19152, { BURNRATE_TOPIC_NAMESPACE: solo });
    services.push(recorder, api);
    const key = (await createKey(team)).key;
    const other = (await createKey(`other-${uid()}`)).key;
    const lastDay = new Date(START + (DAYS - 1) * DAY).toISOString();
    const query = `/v1/agent-stats?from=${new Date(START).toISOString()}&to=${new Date(START + DAYS * DAY).toISOString()}&limit=1000`;
    type Row = {
      agent_id: string;
      day_start: string;
      spend_nanos: string;
      runs: number;
      baseline_mean_nanos: number;
    };
    let stored: Row[] = [];
    for (
      const until = Date.now() + 60_000;
      Date.now() < until;
      await new Promise((r) => setTimeout(r, 500))
    ) {
      const res = await fetch(`${api.url}${query}`, { headers: { authorization: `Bearer ${key}` } });
      stored = ((await res.json()) as { agent_stats: Row[] }).agent_stats.filter(
        (r) => r.day_start === lastDay,
      );
      if (
        stored.length === AGENTS &&
        stored.every((r) => r.runs === lastDayRuns.get(`${team}/${r.agent_id}`))
      )
        break;
    }
    expect(stored).toHaveLength(AGENTS);
    for (const row of stored) {
      const s = reference.get(`${team}/${row.agent_id}`)!;
      expect([Number(row.spend_nanos), row.runs]).toEqual([s.day.spend_nanos, s.day.runs]);
      expect(row.baseline_mean_nanos).toBeCloseTo(s.baseline.spend_mean_nanos, 2);
    }
    const foreign = await fetch(`${api.url}${query}`, { headers: { authorization: `Bearer ${other}` } });
    expect(((await foreign.json()) as { agent_stats: Row[] }).agent_stats).toEqual([]);
    await Promise.all([recorder.stop(), api.stop()]);

    // 2. Killed (SIGKILL) while consuming, then a new process: the same final stats, nothing counted twice.
    let victim = await start(crash, 19112);
    const deadline = Date.now() + 60_000;
    while ((await metric(victim, 'burnrate_aggregator_runs_total', 'outcome="counted"')) < unique / 4) {
      if (Date.now() > deadline) throw new Error('aggregator made no progress');
      await new Promise((r) => setTimeout(r, 50));
    }
    await victim.stop('SIGKILL');
    victim = await start(crash, 19112);
    const afterCrash = await finalStats(crash, lastDayRuns);
    for (const [key, s] of reference) {
      const c = afterCrash.get(key)!;
      expect({ day: c.day, hour: c.hour, baseline: c.baseline, stream: c.stream_time }).toEqual({
        day: s.day,
        hour: s.hour,
        baseline: s.baseline,
        stream: s.stream_time,
      });
      expect(c.sessions.median_cost_nanos).toBe(s.sessions.median_cost_nanos);
    }
    const log = readFileSync(resolve(__dirname, '../.burnrate/test-logs/aggregator-19112.log'), 'utf8');
    const restores = log
      .split('\n')
      .filter((l) => l.includes('partitions restored from changelog'))
      .map((l) => JSON.parse(l) as { agents: number });
    expect(restores.at(-1)!.agents).toBeGreaterThan(0);
    await victim.stop();
    // Restores read without leaving a consumer group behind (each once showed as hundreds of thousands of lag).
    const groups = kafka.admin();
    await groups.connect();
    const left = (await groups.listGroups()).groups.filter(
      (g) => g.groupId.includes(crash) && g.groupId.includes('restore'),
    );
    await groups.disconnect();
    expect(left).toEqual([]);

    // 3. Two replicas of one group share the partitions: together, the same answer as one.
    // Both join first (the group is stable with two members), then the runs arrive.
    const [a, b] = await Promise.all([start(pair, 19122, 'a'), start(pair, 19132, 'b')]);
    const admin = kafka.admin();
    await admin.connect();
    for (const until = Date.now() + 60_000; ;) {
      const { groups } = await admin.describeGroups([`aggregator-${pair}`]);
      if (groups[0]?.state === 'Stable' && groups[0].members.length === 2) break;
      if (Date.now() > until)
        throw new Error(`group never stable with two members: ${JSON.stringify(groups)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await admin.disconnect();
    await publish(pair, runs);
    const shared = await finalStats(pair, lastDayRuns);
    for (const [key, s] of reference) {
      const p = shared.get(key)!;
      expect({ day: p.day, baseline: p.baseline }).toEqual({ day: s.day, baseline: s.baseline });
    }
    const counted = await Promise.all(
      [a, b].map((s) => metric(s, 'burnrate_aggregator_runs_total', 'outcome="counted"')),
    );
    // Both worked; a slice one of them had in hand when the partitions moved is counted again by the new owner
    // (from the committed state), so the metrics may exceed the runs, but the stats above may not.
    expect(Math.min(...counted)).toBeGreaterThan(0);
    expect(counted[0] + counted[1]).toBeGreaterThanOrEqual(unique);
  }, 400_000);

  it('moves idle agents to its state directory and back without changing a figure', async () => {
    const team = `team-${uid()}`;
    // Each agent works one 3-hour block in three (a third of the runs) and idles between: it leaves memory and
    // comes back a few times a day.
    const all = scenario(team);
    const block = (t: number) => Math.floor((t % DAY) / (180 * MIN));
    const runs = all.runs.filter(
      (r) => block(r.run.finished_at) % 3 === Number(r.run.agent_id.split('-')[1]) % 3,
    );
    const daily = new Map([...all.daily.keys()].map((agent) => [agent, new Array<number>(DAYS).fill(0)]));
    const counted = new Set<string>();
    for (const r of runs) {
      if (counted.has(r.run.run_id)) continue;
      counted.add(r.run.run_id);
      daily.get(r.run.agent_id)![Math.floor((r.run.finished_at - START) / DAY)] += r.total_cost_nanos;
    }
    const unique = counted.size;
    const ns = `t${uid()}`;
    await publish(ns, runs);
    const stateDir = mkdtempSync(join(tmpdir(), 'aggregator-state-'));
    // Small slices and no idle time allowed: at every hourly sweep, each agent without a run in the slice leaves memory.
    // (This history runs 17 days in 26,000 runs, so a retry 40 records on is ~40 minutes of stream time later: the
    // dedupe window, 15 minutes by default and exact with slices this small, is widened to match.)
    const svc = await start(ns, 19162, 'a', {
      IDLE_UNLOAD_MS: '0',
      DEDUPE_WINDOW_MS: String(6 * 60 * MIN),
      MAX_RUNS_PER_SLICE: '32',
      STATE_DIR: stateDir,
    });
    const stats = await finalStats(ns, lastDayRunsOf(team, runs, daily));
    expect(await metric(svc, 'burnrate_aggregator_runs_total', 'outcome="counted"')).toBe(unique);
    expect(await metric(svc, 'burnrate_aggregator_agent_moves_total', 'to="disk"')).toBeGreaterThan(100);
    expect(await metric(svc, 'burnrate_aggregator_agent_moves_total', 'to="memory"')).toBeGreaterThan(100);
    const [own] = readdirSync(stateDir);
    expect(own).toMatch(/^burnrate-aggregator-/);
    expect(readdirSync(join(stateDir, own)).sort()).toEqual([
      'partition-0.agents',
      'partition-1.agents',
      'partition-2.agents',
    ]);
    for (const [agent, days] of daily) {
      const s = stats.get(`${team}/${agent}`)!;
      const e = expectedBaseline(days);
      expect(s.day.spend_nanos).toBe(days.at(-1));
      expect(s.baseline.days).toBe(14);
      expect(s.baseline.spend_mean_nanos).toBeCloseTo(e.mean, 2);
      expect(s.baseline.spend_stddev_nanos).toBeCloseTo(e.stddev, 2);
    }
    await svc.stop();
    expect(readdirSync(stateDir)).toEqual([]); // scratch: removed on shutdown
  }, 300_000);
});
