import type { Kafka } from 'kafkajs';
import { detectorTopics, topicsIn, type PricedRun } from '@libs/contracts';
import { murmur2, provisionTopics, readPartitions } from '@libs/kafka';
import { DEFAULT_SETTINGS, type Budget } from '@libs/team-settings';
import { Detector, type LedgerKey } from '../services/detector/src/core/detector';
import { TeamDetector } from '../services/detector/src/core/team-detector';
import { detectBatch, detectTeamBatch } from '../services/detector/src/detect-batch';
import { agentFleet, generateRuns } from '../services/detector/src/testing/synthetic';
import { carryDetectorState } from '../scripts/carry-detector-state';
import { quietLogger, testConfig, testKafka, uid } from './support/stack';

const config = testConfig({ KAFKA_TOPIC_PARTITIONS: '6' });
const DAY = 86_400_000;
const START = Date.UTC(2026, 1, 2);
const budget: Budget = { scope: 'team', subject: '', period: 'month', amountNanos: 1e9, currency: 'USD' };
const settings = { ...DEFAULT_SETTINGS, budgets: [budget] };

describe('carrying 0.2 detector state over to the partition-aligned changelogs (real broker)', () => {
  let kafka: Kafka;

  beforeAll(() => {
    kafka = testKafka(config);
  });

  it('puts every agent, open session and team in the partition its new owner restores, once', async () => {
    const ns = `t${uid()}`;
    const T = detectorTopics(ns);
    // 0.2's state: one detector for everything, every ledger in the partition its key hashed to (3 partitions)
    const runs: PricedRun[] = [
      ...generateRuns({ start: START, days: 4, agents: agentFleet(12, 3), incidents: [], seed: 3 }),
    ];
    const live = new Detector(() => settings);
    const teams = new TeamDetector(() => settings);
    const legacy: { key: string; value: string | null }[] = [];
    for (let i = 0; i < runs.length; i += 100) {
      const out = detectBatch(live, runs.slice(i, i + 100));
      legacy.push(...out.ledgers, ...detectTeamBatch(teams, out.teamSpend).ledgers);
    }
    const openSessions = [...live.agents.values()].reduce((n, a) => n + Object.keys(a.sessions).length, 0);
    expect(openSessions).toBeGreaterThan(0);
    expect(teams.teams.size).toBeGreaterThan(0);

    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, testConfig({ KAFKA_TOPIC_PARTITIONS: '3' }), [T.legacyLedgers]);
    await provisionTopics(admin, config, [topicsIn(ns).runsPriced, T.agents, T.teams, T.teamSpend]);
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: T.legacyLedgers.name,
      acks: -1,
      messages: legacy.map((r) => ({ key: r.key, value: r.value })),
    });
    await producer.disconnect();

    const carried = await carryDetectorState(kafka, quietLogger(), ns);
    expect(carried).toEqual({ agents: live.agents.size, sessions: openSessions, teams: teams.teams.size });

    // Each partition restored on its own gives exactly the agents whose runs are in that partition of runs.priced.
    const partitionOf = (key: string) => (murmur2(Buffer.from(key)) & 0x7fffffff) % 6;
    const restored = new Map<string, unknown>();
    for (let p = 0; p < 6; p++) {
      const d = new Detector(() => settings);
      await readPartitions(kafka, T.agents.name, [p], (_p, m) =>
        d.restore(m.key!.toString() as LedgerKey, m.value ? JSON.parse(m.value.toString()) : null),
      );
      d.restored();
      for (const [id, ledger] of d.agents) {
        expect(partitionOf(id)).toBe(p);
        restored.set(id, ledger);
      }
    }
    expect(restored).toEqual(live.agents);
    const teamLedgers = new TeamDetector(() => settings);
    for (let p = 0; p < 6; p++)
      await readPartitions(kafka, T.teams.name, [p], (part, m) => {
        expect(partitionOf(m.key!.toString().slice('team:'.length))).toBe(part);
        teamLedgers.restore(m.key!.toString(), JSON.parse(m.value!.toString()));
      });
    expect(teamLedgers.teams).toEqual(teams.teams);

    // Run again (the hook runs on every upgrade): nothing is written twice over the new state.
    expect(await carryDetectorState(kafka, quietLogger(), ns)).toBeNull();
  }, 120_000);
});
