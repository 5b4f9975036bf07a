import type { Kafka } from 'kafkajs';
import { agentKey, detectorTopics, topicsIn, type AgentStats } from '@libs/contracts';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { DEFAULT_SETTINGS } from '@libs/team-settings';
import type { Anomaly } from '../services/detector/src/core/anomaly';
import { Chain } from '../services/detector/src/testing/chain';
import { agentFleet, generateRuns } from '../services/detector/src/testing/synthetic';
import { migrated, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const config = testConfig();
const DAY = 86_400_000;
const START = Date.UTC(2026, 1, 2);

/** A team's agent-stats for ten days, with a model swap on the last: what the aggregator would have written. */
function statsOf(team: string): AgentStats[] {
  const agents = agentFleet(3, 5).map((a) => ({ ...a, team, runsPerDay: 200 }));
  const runs = generateRuns({
    start: START,
    days: 10,
    agents,
    incidents: [
      {
        kind: 'model_swap',
        agentId: agents[1].agentId,
        onset: START + 9 * DAY + 9 * 3_600_000,
        to: 'claude-opus',
      },
    ],
    seed: 4,
  });
  return new Chain(() => DEFAULT_SETTINGS).process(runs, 200).stats;
}

describe('detector upgraded from 0.2 (own process, real stack)', () => {
  let kafka: Kafka;
  let svc: ServiceProcess | undefined;

  beforeAll(async () => {
    await migrated();
    kafka = testKafka(config);
  });

  afterAll(async () => {
    await svc?.stop();
  });

  it('does not judge the week of agent-stats written before it started, and judges what comes after', async () => {
    const ns = `t${uid()}`;
    const T = topicsIn(ns);
    const D = detectorTopics(ns);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, [T.agentStats, T.teamSpend, T.anomalies, D.legacyLedgers]);
    await admin.disconnect();
    const serde = await AvroSerde.create(config, [T.agentStats, T.anomalies]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    const publish = (stats: AgentStats[]) =>
      producer.send(
        stats.map((s) => ({
          topic: T.agentStats.name,
          key: agentKey(s.team, s.agent_id),
          value: serde.encode(T.agentStats, s),
        })),
      );
    // 0.2 was here: its ledger changelog has records, and agent-stats a week of what it already judged.
    await producer.send([{ topic: D.legacyLedgers.name, key: 'agent:old/agent', value: Buffer.from('{}') }]);
    const before = `before-${ns}`;
    await publish(statsOf(before));

    const group = `detector-${ns}`;
    svc = await startService('detector', 19133, {
      BURNRATE_TOPIC_NAMESPACE: ns,
      CONSUMER_GROUP: group,
      INSTANCE_ID: 'test',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
    });
    await until(
      'the detector joined its group',
      async () => {
        const a = kafka.admin();
        await a.connect();
        try {
          return (await a.describeGroups([group])).groups[0];
        } finally {
          await a.disconnect();
        }
      },
      (g) => g?.state === 'Stable' && g.members.length === 1,
      60_000,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const after = `after-${ns}`;
    await publish(statsOf(after));
    await producer.disconnect();

    const anomalies = (
      await readTopic<Anomaly>(kafka, T.anomalies, { expected: 1, serde, timeoutMs: 60_000, settleMs: 4000 })
    ).map((r) => r.value);
    expect(
      anomalies.some((a) => a.team === after && a.rule === 'cost_per_run_jump' && a.state === 'firing'),
    ).toBe(true);
    expect(anomalies.filter((a) => a.team === before)).toEqual([]);
  }, 180_000);
});
