import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { agentKey, topicsIn, type PricedRun } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import type { Anomaly } from '../services/detector/src/core/anomaly';
import { agentFleet, generateRuns } from '../services/detector/src/testing/synthetic';
import { startService, type ServiceProcess, migrated } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const ns = `t${uid()}`;
const T = topicsIn(ns);
const DAY = 86_400_000;
const START = Date.UTC(2026, 1, 2);

describe('detector service (own process, transactional, changelog state, real stack)', () => {
  let kafka: Kafka;
  let serde: AvroSerde;
  let svc: ServiceProcess | undefined;
  const team = `team-${ns}`;
  const env = {
    BURNRATE_TOPIC_NAMESPACE: ns,
    CONSUMER_GROUP: `detector-${ns}`,
    INSTANCE_ID: 'test',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    SETTINGS_POLL_MS: '500',
  };

  beforeAll(async () => {
    await migrated();
    kafka = testKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, [T.runsPriced, T.anomalies]);
    await admin.disconnect();
    serde = await AvroSerde.create(config, [T.runsPriced, T.anomalies]);
  });

  afterAll(async () => {
    await svc?.stop();
  });

  it('pages a model swap and a budget once each across a crash, with the run that crossed the line', async () => {
    const pool = createPool(await migrated(), 1);
    try {
      await pool.query(
        `insert into budgets (team, scope, subject, period, amount_nanos, currency) values ($1, 'team', '', 'month', $2, 'USD')`,
        [team, 40_000_000_000],
      );
    } finally {
      await pool.end();
    }
    const agents = agentFleet(3, 5).map((a) => ({ ...a, team, runsPerDay: 400, model: 'claude-haiku' }));
    const victim = agents[1];
    const onset = START + 9 * DAY + 14 * 3_600_000;
    const runs = [
      ...generateRuns({
        start: START,
        days: 10,
        agents,
        incidents: [{ kind: 'model_swap', agentId: victim.agentId, onset, to: 'claude-opus' }],
        seed: 3,
      }),
    ];
    const producer = new BatchProducer(kafka);
    await producer.connect();
    for (let i = 0; i < runs.length; i += 100) {
      await producer.send(
        runs.slice(i, i + 100).map((r: PricedRun) => ({
          topic: T.runsPriced.name,
          key: agentKey(r.team, r.run.agent_id),
          value: serde.encode(T.runsPriced, r),
        })),
      );
    }
    await producer.disconnect();

    svc = await startService('detector', 19103, env);
    await new Promise((r) => setTimeout(r, 2500));
    await svc.stop('SIGKILL');
    svc = await startService('detector', 19103, env);

    const anomalies = (
      await readTopic<Anomaly>(kafka, T.anomalies, { expected: 2, serde, timeoutMs: 120_000, settleMs: 5000 })
    ).map((r) => r.value);
    const pages = anomalies.filter((a) => a.state !== 'resolved' && !a.late);
    expect(new Set(anomalies.map((a) => a.anomaly_id)).size).toBe(anomalies.length);

    const swap = pages.filter(
      (a) => a.rule === 'cost_per_run_jump' && a.agent_id === victim.agentId && a.detected_at >= onset,
    );
    expect(swap.map((a) => a.state)).toContain('firing');
    expect(swap.filter((a) => a.state === 'firing')).toHaveLength(1);
    const fired = swap.find((a) => a.state === 'firing')!;
    expect(fired.detected_at - onset).toBeLessThan(3_600_000);
    const trigger = runs.find((r) => r.run.run_id === fired.trigger_run_id);
    expect(trigger?.run.model).toBe('claude-opus');

    const budget = anomalies.filter((a) => a.rule === 'budget' && a.team === team);
    const levels = budget.filter((a) => a.state !== 'resolved').map((a) => a.severity);
    expect(levels.length).toBeGreaterThan(0);
    expect(new Set(levels).size).toBe(levels.length);
    expect(new Set(budget.map((a) => a.dedupe_key)).size).toBe(1);

    // The restarted process rebuilt its ledgers from the changelog before consuming.
    const log = readFileSync(resolve(__dirname, '../.burnrate/test-logs/detector-19103.log'), 'utf8');
    const restores = log.split('\n').filter((l) => l.includes('ledgers restored from changelog'));
    expect(JSON.parse(restores.at(-1)!).agents).toBeGreaterThanOrEqual(agents.length);
  });
});
