import { AssignerProtocol, type Admin, type PartitionerArgs } from 'kafkajs';
import { agentKey, type AnomalyRecord, type PricedRun } from '@libs/contracts';
import { KeyedPartitioner } from '@libs/kafka';
import { pricedRun, runEvent } from './fixtures';
import type { ServiceProcess } from './services';

export const DAY = 86_400_000;
const RUNS_PER_SESSION = 5;

/** A small deterministic PRNG (mulberry32): the same seed, the same stream, on every run. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface ScaleOutScenario {
  /** Records in send order (a few sent twice, each right after its first copy). */
  runs: PricedRun[];
  /** Distinct runs (what the aggregator counts). */
  unique: number;
  /** Agent keys (team/agent) of every agent. */
  keys: string[];
  /** Agent keys of the agents that spend far more on the last day. */
  spikers: string[];
  /** Each agent's number of distinct runs on the last day. */
  lastDayRuns: Map<string, number>;
  /** Indexes in `runs` at which a slice may be cut without separating a record from its duplicate. */
  safeCut(at: number): number;
}

/**
 * Two teams of `agentsPerTeam` agents, `days` days of steady spend (22-30 runs a day, each at the agent's own cost
 * per run ±15%), then on the last day `spikers` agents cost 6-10x per run. An agent works in sessions of 5 runs about
 * 90 s apart, spread over its day. Runs are in event-time order; one record in `dupEvery` is sent a second time right
 * after the first (a client retry).
 */
export function scaleOutScenario(
  teams: readonly string[],
  { start, agentsPerTeam = 24, days = 16, spikers = 4, dupEvery = 400, seed = 20260611 } = {} as {
    start: number;
    agentsPerTeam?: number;
    days?: number;
    spikers?: number;
    dupEvery?: number;
    seed?: number;
  },
): ScaleOutScenario {
  const rand = seeded(seed);
  const agents = teams.flatMap((team) =>
    Array.from({ length: agentsPerTeam }, (_, a) => ({
      team,
      agent: `agent-${a}`,
      index: a,
      base: 20_000_000 + Math.round(rand() * 180_000_000), // 0.02-0.20 USD a run
      multiplier: 1,
    })),
  );
  // The spiking agents: spread over both teams, chosen by the seed.
  const order = agents.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const chosen: number[] = [];
  for (let t = 0; chosen.length < spikers; t = (t + 1) % teams.length) {
    const next = order.find((i) => agents[i].team === teams[t] && !chosen.includes(i));
    if (next !== undefined) chosen.push(next);
  }
  chosen.forEach((i, n) => (agents[i].multiplier = [6, 8, 10, 7][n % 4]));

  const base: PricedRun[] = [];
  const lastDayRuns = new Map<string, number>();
  for (const a of agents) {
    const key = agentKey(a.team, a.agent);
    lastDayRuns.set(key, 0);
    for (let d = 0; d < days; d++) {
      const last = d === days - 1;
      const n = last ? 26 : 22 + Math.floor(rand() * 9);
      const sessions = Math.ceil(n / RUNS_PER_SESSION);
      let sessionStart = 0;
      for (let k = 0; k < n; k++) {
        const j = Math.floor(k / RUNS_PER_SESSION);
        if (k % RUNS_PER_SESSION === 0)
          sessionStart = start + d * DAY + Math.floor(((j + 0.1 + rand() * 0.6) * DAY) / sessions);
        const jitter = 0.85 + rand() * 0.3;
        const cost = Math.round(a.base * jitter * (last ? a.multiplier : 1));
        const at = sessionStart + (k % RUNS_PER_SESSION) * 90_000 + Math.floor(rand() * 30_000);
        base.push(
          pricedRun(
            runEvent({
              run_id: `${a.team}-${a.index}-${d}-${k}`,
              agent_id: a.agent,
              team: a.team,
              finished_at: at,
              started_at: at - 2000,
              session_id: `s-${a.index}-${d}-${j}`,
              customer_id: ['acme', 'globex', 'initech'][k % 3],
            }),
            cost,
          ),
        );
        if (last) lastDayRuns.set(key, lastDayRuns.get(key)! + 1);
      }
    }
  }
  base.sort((x, y) => x.run.finished_at - y.run.finished_at || x.run.run_id.localeCompare(y.run.run_id));
  const runs: PricedRun[] = [];
  const pairs = new Set<number>(); // index of each second copy
  base.forEach((r, i) => {
    runs.push(r);
    if (i % dupEvery === dupEvery / 2) {
      pairs.add(runs.length);
      runs.push(r);
    }
  });
  return {
    runs,
    unique: base.length,
    keys: agents.map((a) => agentKey(a.team, a.agent)),
    spikers: chosen.map((i) => agentKey(agents[i].team, agents[i].agent)),
    lastDayRuns,
    safeCut: (at) => (pairs.has(at) ? at + 1 : at),
  };
}

/**
 * Two team names (fresh, so no team settings of other tests apply) whose `agentsPerTeam` agents each spread over all
 * `partitions` partitions with at least `minPerPartition` agents in each: the agents are keyed by team, so names are
 * drawn until they do.
 */
export function spreadTeams(
  partitions: number,
  agentsPerTeam: number,
  minPerPartition: number,
  fresh: () => string,
): string[] {
  for (;;) {
    const teams = [`sa-${fresh()}`, `sb-${fresh()}`];
    const keys = teams.flatMap((t) =>
      Array.from({ length: agentsPerTeam }, (_, a) => agentKey(t, `agent-${a}`)),
    );
    const counts = new Array<number>(partitions).fill(0);
    for (const p of partitionsOf(keys, partitions).values()) counts[p]++;
    if (Math.min(...counts) >= minPerPartition) return teams;
  }
}

/** The partition of each key as the services' producers choose it (libs/kafka's KeyedPartitioner), for `count` partitions. */
export function partitionsOf(keys: readonly string[], count: number): Map<string, number> {
  const partitioner = KeyedPartitioner();
  const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  })) as PartitionerArgs['partitionMetadata'];
  return new Map(
    keys.map((key) => [
      key,
      partitioner({ topic: 'burnrate.runs.priced.v1', partitionMetadata, message: { key, value: null } }),
    ]),
  );
}

/** The text of a service's /metrics. */
export async function metricsText(svc: ServiceProcess): Promise<string> {
  return (await fetch(`${svc.url}/metrics`)).text();
}

/** Sum of a metric's samples whose labels include `labels` (e.g. outcome="counted"). */
export function sumOf(text: string, name: string, labels = ''): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** A per-partition gauge's samples: partition -> value (partitions without a sample are absent). */
export function byPartition(text: string, name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const p = /partition="(\d+)"/.exec(line);
    if (p) out.set(Number(p[1]), Number(line.split(' ').pop()));
  }
  return out;
}

/**
 * Records between the group's committed offsets and the end of `topic`, over all partitions. A topic written in
 * transactions (agent-stats) ends each partition with a commit marker that no consumer commits past: with
 * `transactional`, a partition one short of its end is caught up.
 */
export async function lagOf(
  admin: Admin,
  groupId: string,
  topic: string,
  transactional = false,
): Promise<number> {
  const ends = await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return ends.reduce((n, e) => {
    const c = Number(committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1);
    const behind = Number(e.high) - Math.max(c, Number(e.low));
    return n + (transactional && c >= 0 && behind === 1 ? 0 : behind);
  }, 0);
}

/** Members of a group and the partitions of `topic` each was assigned, with the group's state. */
export async function assignments(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<{ state: string; members: number[][] }> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  return {
    state: g?.state ?? 'Unknown',
    members: (g?.members ?? []).map(
      (m) => AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment[topic] ?? [],
    ),
  };
}

/**
 * What identifies an anomaly record across runs of the same input: rule, subject (team, agent and, through the dedupe
 * key, e.g. the session), state, severity, window, and the event-time facts (which run, when in stream time). All of
 * them are worked out from the agent's own runs, so one replica or three must give the same. `anomaly_id` is left out
 * (it is dedupe_key + a sequence number: taken as an id, not a fact), as are the measured values (observed, threshold,
 * summary), which follow from the same facts.
 */
/**
 * What a run of the detector paged, independent of where its slices were cut: for each condition (dedupe key), how
 * many times it fired (a condition pages once), whether it ended open or resolved and at what severity, and whether
 * any record of it was late.
 * Which run showed a condition, and when in event time, depend on the slices (a backlog read in slices of thousands
 * shows a day's jump at a later run than a stream read in small ones); so does an escalation (one slice may cross two
 * thresholds at once). Ids must be unique either way.
 */
export function outcomes(anomalies: readonly AnomalyRecord[]): Record<string, unknown> {
  const out: Record<string, { fired: number; state: string; severity: string; late: boolean }> = {};
  for (const a of anomalies) {
    const o = (out[a.dedupe_key] ??= { fired: 0, state: 'open', severity: a.severity, late: false });
    if (a.state === 'firing') o.fired++;
    o.state = a.state === 'resolved' ? 'resolved' : 'open';
    o.severity = a.severity;
    o.late ||= a.late;
  }
  return out;
}

/** Counts of each value. */
export function multiset(values: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of values) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}
