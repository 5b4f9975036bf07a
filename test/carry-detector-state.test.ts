import type { Kafka } from 'kafkajs';
import { detectorTopics, topicsIn } from '@libs/contracts';
import { partitionFor, provisionTopics, readPartitions } from '@libs/kafka';
import { DEFAULT_SETTINGS, type Budget } from '@libs/team-settings';
import { Detector } from '../services/detector/src/core/detector';
import { TeamDetector, type TeamLedger } from '../services/detector/src/core/team-detector';
import { carryDetectorState } from '../scripts/carry-detector-state';
import { quietLogger, testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const config = testConfig({ KAFKA_TOPIC_PARTITIONS: '6' });
const DAY = 86_400_000;
const START = Date.UTC(2026, 1, 2);
const settings = {
  ...DEFAULT_SETTINGS,
  budgets: [{ scope: 'team', subject: '', period: 'month', amountNanos: 1e9, currency: 'USD' } as Budget],
};

/** A 0.2 agent ledger as its changelog held it: the detector's own copy of the agent's figures, and its incidents. */
function legacyAgent(team: string, agentId: string, open: boolean) {
  return {
    team,
    agentId,
    currency: 'USD',
    clock: START + 3 * DAY,
    today: {
      start: START + 3 * DAY,
      end: START + 4 * DAY,
      spendNanos: 5e9,
      runs: 40,
      customers: {},
      features: {},
    },
    history: [],
    recentCosts: [1e8],
    tracked: open
      ? {
          [`spend_zscore|${team}|${agentId}||d`]: {
            key: `spend_zscore|${team}|${agentId}||d`,
            rule: 'spend_zscore',
            team,
            agentId,
            windowStart: START + 3 * DAY,
            windowEnd: START + 4 * DAY,
            severity: 'error',
            startedAt: START + 3 * DAY + 1000,
            seq: 0,
            paged: true,
            last: { severity: 'error', observed: 5, threshold: 2, summary: 'spend' },
            currency: 'USD',
          },
        }
      : {},
  };
}

describe('carrying 0.2 detector state over to the partition-aligned changelogs (real broker)', () => {
  let kafka: Kafka;

  beforeAll(() => {
    kafka = testKafka(config);
  });

  it('puts every open incident and team ledger in the partition its new owner restores, once', async () => {
    const ns = `t${uid()}`;
    const T = detectorTopics(ns);
    const agents = Array.from({ length: 30 }, (_, i) =>
      legacyAgent(i % 2 ? 'support' : 'growth', `agent-${i}`, i % 3 === 0),
    );
    const teams = new TeamDetector(() => settings);
    teams.onSpend(
      {
        team: 'support',
        currency: 'USD',
        entries: [{ at: START, customer_id: 'acme', spend_nanos: 2e9, run_id: 'r1', late: false }],
      },
      new Set(),
    );
    teams.onSpend(
      {
        team: 'growth',
        currency: 'USD',
        entries: [{ at: START, customer_id: null, spend_nanos: 3e8, run_id: 'r2', late: false }],
      },
      new Set(),
    );
    // 0.2's changelog: every ledger, its sessions and run ids, in the partition its key hashed to (3 partitions)
    const legacy = [
      ...agents.map((a) => ({ key: `agent:${a.team}/${a.agentId}`, value: JSON.stringify(a) })),
      {
        key: 'session:["support/agent-1","s1"]',
        value: JSON.stringify({ start: START, last: START, cost: 1, runs: 1 }),
      },
      { key: 'seen:["support","r1"]', value: JSON.stringify({ at: START, ids: ['support\u0000r1'] }) },
      ...[...teams.teams.keys()].map((t) => ({
        key: `team:${t}`,
        value: teams.persisted(TeamDetector.key(t)),
      })),
    ];

    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, testConfig({ KAFKA_TOPIC_PARTITIONS: '3' }), [T.legacyLedgers]);
    const topics = topicsIn(ns);
    await provisionTopics(admin, config, [topics.agentStats, topics.teamSpend, T.agents, T.teams]);
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: T.legacyLedgers.name, acks: -1, messages: legacy });
    await producer.disconnect();

    const open = agents.filter((a) => Object.keys(a.tracked).length > 0);
    expect(await carryDetectorState(kafka, quietLogger(), ns)).toEqual({ agents: open.length, teams: 2 });

    // Each partition restored on its own gives exactly the open incidents of the agents in that partition of
    // agent-stats, and the team ledgers of the teams in that partition of team-spend.
    const partitionOf = (key: string) => partitionFor(key, 6);
    // A transaction's commit returns before its markers are on every partition (the coordinator writes them after),
    // and a read_committed read ends at each partition's last stable offset: read until the carried state shows.
    const restoreAll = async () => {
      const restored = new Map<string, unknown>();
      for (let p = 0; p < 6; p++) {
        const d = new Detector(() => settings);
        await readPartitions(kafka, T.agents.name, [p], (_p, m) =>
          d.restore(m.key!.toString(), m.value ? JSON.parse(m.value.toString()) : null),
        );
        for (const [id, incidents] of d.agents) {
          expect(partitionOf(id)).toBe(p);
          restored.set(id, incidents);
        }
      }
      return restored;
    };
    const restored = await until(
      'the carried agents restorable',
      restoreAll,
      (m) => m.size >= open.length,
      30_000,
    );
    expect(restored).toEqual(
      new Map(
        open.map((a) => [`${a.team}/${a.agentId}`, { team: a.team, agentId: a.agentId, tracked: a.tracked }]),
      ),
    );
    const restoreTeams = async () => {
      const teamLedgers = new TeamDetector(() => settings);
      for (let p = 0; p < 6; p++)
        await readPartitions(kafka, T.teams.name, [p], (part, m) => {
          expect(partitionOf(m.key!.toString().slice('team:'.length))).toBe(part);
          teamLedgers.restore(m.key!.toString(), JSON.parse(m.value!.toString()) as TeamLedger);
        });
      return teamLedgers;
    };
    const teamLedgers = await until(
      'the carried team ledgers restorable',
      restoreTeams,
      (t) => t.teams.size >= teams.teams.size,
      30_000,
    );
    expect(teamLedgers.teams).toEqual(teams.teams);

    // Run again (the hook runs on every upgrade): nothing is written twice over the new state.
    expect(await carryDetectorState(kafka, quietLogger(), ns)).toBeNull();
  }, 120_000);
});
