import type { Kafka } from 'kafkajs';
import { topicsIn, agentKey, type AgentStats, type AnomalyRecord, type PricedRun } from '@libs/contracts';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import {
  assignments,
  byPartition,
  outcomes,
  lagOf,
  metricsText,
  partitionsOf,
  scaleOutScenario,
  spreadTeams,
  sumOf,
} from './support/scale-out';
import { migrated, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const PARTITIONS = 6;
const config = testConfig({ KAFKA_TOPIC_PARTITIONS: String(PARTITIONS) });
const START = Date.UTC(2026, 3, 6);
const DAYS = 16;
const AGENTS_PER_TEAM = 24;
const INSTANCES = ['a', 'b', 'c'] as const;
/** Ports of this file: reference 19311 (aggregator) and 19312 (detector); scale-out 19301-19303 and 19304-19306. */
const PORTS = { reference: { aggregator: 19311, detector: 19312 }, aggregator: 19301, detector: 19304 };

type Service = 'aggregator' | 'detector';

/** Per replica, a per-partition gauge's samples (partition -> agents), and the group's assignment at that moment. */
interface GaugeSnapshot {
  ok: boolean;
  replicas: Map<number, number>[];
  assignment: number[][];
}

interface Outcome {
  stats: Map<string, AgentStats>;
  anomalies: AnomalyRecord[];
}

describe('scale-out: three aggregators and three detectors over six partitions (own processes, real stack)', () => {
  let kafka: Kafka;
  const services: ServiceProcess[] = [];
  const teams = spreadTeams(PARTITIONS, AGENTS_PER_TEAM, 3, uid);
  const scenario = scaleOutScenario(teams, { start: START, days: DAYS, agentsPerTeam: AGENTS_PER_TEAM });
  const partitionOf = partitionsOf(scenario.keys, PARTITIONS);
  /** Agents whose key hashes to each partition (partitions without agents absent). */
  const agentsPerPartition = new Map<number, number>();
  for (const p of partitionOf.values()) agentsPerPartition.set(p, (agentsPerPartition.get(p) ?? 0) + 1);
  const [refNs, scaleNs] = [`t${uid()}`, `t${uid()}`];
  let groupsBefore: string[] = [];
  let reference: Outcome | undefined;
  const gauges: Partial<Record<Service, GaugeSnapshot>> = {};

  const envOf = (ns: string, service: Service, instance: string): Record<string, string> => ({
    BURNRATE_TOPIC_NAMESPACE: ns,
    CONSUMER_GROUP: `${service}-${ns}`,
    INSTANCE_ID: instance,
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
    SETTINGS_POLL_MS: '500',
  });

  /** What a service consumes: the aggregator runs.priced, the detector the aggregator's agent-stats. */
  const inputOf = (service: Service, ns: string) =>
    service === 'aggregator' ? topicsIn(ns).runsPriced.name : topicsIn(ns).agentStats.name;

  async function start(ns: string, service: Service, port: number, instance: string) {
    const svc = await startService(service, port, envOf(ns, service, instance));
    services.push(svc);
    return svc;
  }

  async function withAdmin<T>(fn: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect();
    }
  }

  async function setUp(ns: string) {
    const T = topicsIn(ns);
    await withAdmin((admin) =>
      provisionTopics(admin, config, [T.runsPriced, T.agentStats, T.teamSpend, T.anomalies]),
    );
    const serde = await AvroSerde.create(config, [T.runsPriced, T.agentStats, T.anomalies]);
    return { T, serde };
  }

  /** Sends runs[from, to) in chunks of `chunk`, waiting `pauseMs` between chunks (a stream, not a backlog). */
  async function publish(ns: string, from: number, to: number, chunk = 2000, pauseMs = 0): Promise<void> {
    const { T, serde } = await setUp(ns);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    try {
      for (let i = from; i < to; i += chunk) {
        await producer.send(
          scenario.runs.slice(i, Math.min(i + chunk, to)).map((r: PricedRun) => ({
            topic: T.runsPriced.name,
            key: agentKey(r.team, r.run.agent_id),
            value: serde.encode(T.runsPriced, r),
          })),
        );
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      }
    } finally {
      await producer.disconnect();
    }
  }

  /**
   * The aggregator has consumed runs.priced to its end, and then the detector agent-stats: to its end, or (after a
   * killed aggregator's transaction was aborted, records no consumer commits past) without a move for three seconds.
   */
  async function consumedAll(ns: string, timeoutMs: number): Promise<void> {
    const T = topicsIn(ns);
    let last = -1;
    let stillSince = Date.now();
    await withAdmin((admin) =>
      until(
        `aggregator and detector of ${ns} consume runs.priced and agent-stats to the end`,
        async () => {
          const aggregator = await lagOf(admin, `aggregator-${ns}`, T.runsPriced.name);
          const detector = await lagOf(admin, `detector-${ns}`, T.agentStats.name, true);
          const [committed] = await admin.fetchOffsets({
            groupId: `detector-${ns}`,
            topics: [T.agentStats.name],
          });
          const position = committed.partitions.reduce((n, p) => n + Number(p.offset), 0);
          if (position !== last || aggregator > 0) [last, stillSince] = [position, Date.now()];
          return { aggregator, detector, settled: Date.now() - stillSince >= 3000 };
        },
        (lag) => lag.aggregator === 0 && (lag.detector === 0 || lag.settled),
        timeoutMs,
      ),
    );
  }

  /** The latest agent-stats record per agent, once every agent's last day shows its runs (or the deadline passes). */
  async function finalStats(ns: string, timeoutMs: number): Promise<Map<string, AgentStats>> {
    const { T, serde } = await setUp(ns);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const records = await readTopic<AgentStats>(kafka, T.agentStats, {
        expected: scenario.keys.length,
        serde,
        settleMs: 2000,
        timeoutMs: 20_000,
      });
      const latest = new Map<string, AgentStats>();
      for (const r of records) latest.set(r.key!, r.value);
      const done = [...scenario.lastDayRuns].every(([key, runs]) => latest.get(key)?.day.runs === runs);
      if (done || Date.now() > deadline) return latest;
    }
  }

  async function anomaliesOf(ns: string, expected: number): Promise<AnomalyRecord[]> {
    const { T, serde } = await setUp(ns);
    const records = await readTopic<AnomalyRecord>(kafka, T.anomalies, {
      expected,
      serde,
      settleMs: 5000,
      timeoutMs: 90_000,
    });
    return records.map((r) => r.value);
  }

  /**
   * Polls each replica's per-partition gauge until, together, they show exactly the agents of every partition, each
   * partition at one replica only (or `timeoutMs` passes); returns the last samples either way, for the assertions.
   */
  async function gaugeSnapshot(
    ns: string,
    service: Service,
    replicas: ServiceProcess[],
    timeoutMs: number,
  ): Promise<GaugeSnapshot> {
    const name = `burnrate_${service}_agents`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const samples = await Promise.all(replicas.map(async (s) => byPartition(await metricsText(s), name)));
      const { members } = await withAdmin((admin) =>
        assignments(admin, `${service}-${ns}`, inputOf(service, ns)),
      );
      const labels = samples.flatMap((m) => [...m.keys()]);
      const held = new Map(samples.flatMap((m) => [...m].filter(([, v]) => v > 0)));
      // The aggregator holds every agent of its partitions; the detector only those with an open incident, so for
      // it the partitions it reports are what is compared.
      const ok =
        samples.every((m) => m.size > 0) &&
        new Set(labels).size === labels.length &&
        (service === 'detector'
          ? labels.length === agentsPerPartition.size
          : held.size === agentsPerPartition.size &&
            [...agentsPerPartition].every(([p, n]) => held.get(p) === n));
      if (ok || Date.now() > deadline) return { ok, replicas: samples, assignment: members };
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  beforeAll(async () => {
    await migrated();
    kafka = testKafka(config);
    groupsBefore = await withAdmin(async (admin) => (await admin.listGroups()).groups.map((g) => g.groupId));
    await Promise.all([setUp(refNs), setUp(scaleNs)]);
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
  });

  it('reference: one aggregator and one detector count every run once and page the spiking agents', async () => {
    const began = Date.now();
    // The scenario spreads the agents over every partition, several each (spreadTeams chose the names for it).
    expect([...agentsPerPartition.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Math.min(...agentsPerPartition.values())).toBeGreaterThanOrEqual(3);

    await publish(refNs, 0, scenario.runs.length);
    const [aggregator] = await Promise.all([
      start(refNs, 'aggregator', PORTS.reference.aggregator, 'a'),
      start(refNs, 'detector', PORTS.reference.detector, 'a'),
    ]);
    const stats = await finalStats(refNs, 180_000);
    await consumedAll(refNs, 180_000);
    const anomalies = await anomaliesOf(refNs, 1);

    const text = await metricsText(aggregator);
    expect(sumOf(text, 'burnrate_aggregator_runs_total', 'outcome="counted"')).toBe(scenario.unique);
    expect(sumOf(text, 'burnrate_aggregator_runs_total', 'outcome="duplicate"')).toBe(
      scenario.runs.length - scenario.unique,
    );
    expect(stats.size).toBe(scenario.keys.length);
    for (const [key, runs] of scenario.lastDayRuns) {
      const s = stats.get(key)!;
      expect([key, s.day.start, s.day.runs, s.baseline.days]).toEqual([
        key,
        START + (DAYS - 1) * 86_400_000,
        runs,
        14,
      ]);
    }
    // The detector fires on the spiking agents, and on them only; no record twice.
    expect(new Set(anomalies.map((a) => `${a.team}/${a.agent_id}`))).toEqual(new Set(scenario.spikers));
    for (const key of scenario.spikers)
      expect(
        anomalies.filter((a) => `${a.team}/${a.agent_id}` === key && a.state === 'firing').map((a) => a.rule),
      ).toEqual(expect.arrayContaining(['spend_zscore', 'cost_per_run_jump']));
    expect(new Set(anomalies.map((a) => a.anomaly_id)).size).toBe(anomalies.length);
    reference = { stats, anomalies };
    await Promise.all(services.splice(0).map((s) => s.stop()));
    console.log(
      `reference: ${scenario.runs.length} records (${scenario.unique} distinct runs), ${scenario.keys.length} agents, ` +
        `${anomalies.length} anomalies, ${Math.round((Date.now() - began) / 1000)} s`,
    );
  }, 600_000);

  it('three of each share the partitions, survive a SIGKILL of one of each mid-stream, and end as the reference', async () => {
    if (!reference) throw new Error('the reference run did not complete');
    const began = Date.now();
    const topic = topicsIn(scaleNs).runsPriced.name;
    const [aggregators, detectors] = await Promise.all([
      Promise.all(INSTANCES.map((id, i) => start(scaleNs, 'aggregator', PORTS.aggregator + i, id))),
      Promise.all(INSTANCES.map((id, i) => start(scaleNs, 'detector', PORTS.detector + i, id))),
    ]);
    // Every replica holds partitions before any run arrives (so no rebalance moves state during the first part).
    await withAdmin(async (admin) => {
      for (const service of ['aggregator', 'detector'] as const)
        await until(
          `${service} group stable with three members each holding partitions`,
          () => assignments(admin, `${service}-${scaleNs}`, inputOf(service, scaleNs)),
          (g) => g.state === 'Stable' && g.members.length === 3 && g.members.every((m) => m.length > 0),
          90_000,
        );
    });

    // The first 40% of the stream; each replica then holds its own partitions' agents.
    const cut = scenario.safeCut(Math.floor(scenario.runs.length * 0.4));
    await publish(scaleNs, 0, cut);
    await consumedAll(scaleNs, 180_000);
    [gauges.aggregator, gauges.detector] = await Promise.all([
      gaugeSnapshot(scaleNs, 'aggregator', aggregators, 30_000),
      gaugeSnapshot(scaleNs, 'detector', detectors, 30_000),
    ]);

    // The rest arrives as a stream; at 55% of the runs counted, one aggregator and one detector are SIGKILLed.
    const rest = publish(scaleNs, cut, scenario.runs.length, 250, 100);
    const counted = async () =>
      (
        await Promise.all(
          aggregators.map(async (s) =>
            sumOf(await metricsText(s), 'burnrate_aggregator_runs_total', 'outcome="counted"'),
          ),
        )
      ).reduce((x, y) => x + y, 0);
    const threshold = Math.floor(scenario.unique * 0.55);
    const atKill = await until(
      'aggregators count 55% of the runs',
      counted,
      (n) => n >= threshold,
      120_000,
      50,
    );
    await Promise.all([aggregators[1].stop('SIGKILL'), detectors[1].stop('SIGKILL')]);
    const lagAtKill = await withAdmin(async (admin) => ({
      aggregator: await lagOf(admin, `aggregator-${scaleNs}`, topic),
      detector: await lagOf(admin, `detector-${scaleNs}`, topicsIn(scaleNs).agentStats.name, true),
    }));
    await rest;

    const stats = await finalStats(scaleNs, 300_000);
    await consumedAll(scaleNs, 300_000);
    const anomalies = await anomaliesOf(scaleNs, reference.anomalies.length);
    console.log(
      `scale-out: killed aggregator-b and detector-b at ${atKill} runs counted (of ${scenario.unique}; committed lag ` +
        `then: aggregator ${lagAtKill.aggregator}, detector ${lagAtKill.detector}); ${anomalies.length} anomalies; ` +
        `${Math.round((Date.now() - began) / 1000)} s`,
    );

    // Final agent-stats: every agent's whole record as the single replica left it, but for the fields that describe
    // the slice that produced the record rather than the agent: slices are cut where the fetches and the rebalances
    // fell (the reference read a backlog, these replicas a stream), so they legitimately differ:
    // - `stream_time`, the partition's stream time at the end of that slice (seen to differ for a few agents);
    // - `sessions.changed`, the sessions that slice changed (differs for every agent);
    // - what the slice touched among the rule signals: `minutes`, `parents`, `unpriced_models`.
    const comparable = (m: Map<string, AgentStats>) =>
      Object.fromEntries(
        [...m]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, s]) => [
            key,
            {
              ...s,
              stream_time: undefined,
              sessions: { ...s.sessions, changed: undefined },
              signals: s.signals && {
                ...s.signals,
                minutes: undefined,
                parents: undefined,
                unpriced_models: undefined,
              },
            },
          ]),
      );
    expect(comparable(stats)).toEqual(comparable(reference.stats));

    // Anomalies: the same conditions, each paged once and ending alike (nothing lost, nothing twice).
    expect(new Set(anomalies.map((a) => a.anomaly_id)).size).toBe(anomalies.length);
    expect(outcomes(anomalies)).toEqual(outcomes(reference.anomalies));
    expect(Object.values(outcomes(anomalies)).every((o) => (o as { fired: number }).fired === 1)).toBe(true);
  }, 600_000);

  /**
   * Assertions on a replica set's per-partition gauge (burnrate_<service>_agents{partition}), as it was after the first
   * part of the stream and before the kill. One comparison of a summary, so a failure shows every replica's samples.
   */
  function expectOwnPartitionsOnly(service: Service): void {
    const snapshot = gauges[service];
    if (!snapshot) throw new Error('the scale-out run did not get as far as the kill');
    const labelSets = snapshot.replicas.map((m) => [...m.keys()].sort((a, b) => a - b));
    const all = labelSets.flat();
    expect({
      gauge: `burnrate_${service}_agents`,
      // Each replica reports agents for some partitions...
      replicasWithoutPartitions: labelSets.filter((labels) => labels.length === 0).length,
      // ...only for partitions its group membership gave it...
      replicasOutsideTheirAssignment: labelSets
        .filter((labels) => !snapshot.assignment.some((own) => labels.every((p) => own.includes(p))))
        .map((labels) => ({ labels, assignment: snapshot.assignment })),
      // ...and no partition at two replicas.
      partitionsAtTwoReplicas: [...new Set(all.filter((p, i) => all.indexOf(p) !== i))],
      // Together: every partition with agents, the aggregator's each with exactly the agents whose key hashes to it
      // (the detector keeps only agents with an open incident: its partitions are compared).
      agentsPerPartition:
        service === 'detector'
          ? [...new Set(all)].sort((a, b) => a - b)
          : Object.fromEntries(snapshot.replicas.flatMap((m) => [...m].filter(([, v]) => v > 0))),
    }).toEqual({
      gauge: `burnrate_${service}_agents`,
      replicasWithoutPartitions: 0,
      replicasOutsideTheirAssignment: [],
      partitionsAtTwoReplicas: [],
      agentsPerPartition:
        service === 'detector'
          ? [...agentsPerPartition.keys()].sort((a, b) => a - b)
          : Object.fromEntries(agentsPerPartition),
    });
  }

  it('before the kill, each aggregator replica held the agents of its own partitions only', () => {
    expectOwnPartitionsOnly('aggregator');
  });

  it('before the kill, each detector replica held the state of its own partitions only', () => {
    expectOwnPartitionsOnly('detector');
  });

  it('leaves no consumer group behind but the services’ own', async () => {
    await Promise.all(services.splice(0).map((s) => s.stop()));
    const ours = (ids: string[]) => ids.filter((id) => id.includes(refNs) || id.includes(scaleNs)).sort();
    expect(ours(groupsBefore)).toEqual([]);
    const after = await withAdmin(async (admin) => (await admin.listGroups()).groups.map((g) => g.groupId));
    const allowed = new Set(
      [refNs, scaleNs].flatMap((ns) => [`aggregator-${ns}`, `detector-${ns}`, `detector-${ns}-teams`]),
    );
    expect(ours(after).filter((id) => /^burnrate-(detector-)?restore/.test(id))).toEqual([]);
    expect(ours(after).filter((id) => !allowed.has(id))).toEqual([]);
    expect(ours(after)).toEqual(
      expect.arrayContaining([
        `aggregator-${refNs}`,
        `detector-${refNs}`,
        `aggregator-${scaleNs}`,
        `detector-${scaleNs}`,
      ]),
    );
  }, 120_000);
});
