import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { agentKey, topicsIn, type PricedRun } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import type { Anomaly } from '../services/detector/src/core/anomaly';
import { agentFleet, generateRuns } from '../services/detector/src/testing/synthetic';
import { pricedRun, runEvent } from './support/fixtures';
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
  let aggregator: ServiceProcess | undefined;
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
    await provisionTopics(admin, config, [T.runsPriced, T.agentStats, T.teamSpend, T.anomalies]);
    await admin.disconnect();
    serde = await AvroSerde.create(config, [T.runsPriced, T.anomalies]);
  });

  afterAll(async () => {
    await Promise.all([svc?.stop(), aggregator?.stop()]);
  });

  it('pages a model swap and a budget once each from agent-stats across a crash, with the run that crossed the line', async () => {
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
    const publish = async (part: PricedRun[]) => {
      for (let i = 0; i < part.length; i += 100)
        await producer.send(
          part.slice(i, i + 100).map((r: PricedRun) => ({
            topic: T.runsPriced.name,
            key: agentKey(r.team, r.run.agent_id),
            value: serde.encode(T.runsPriced, r),
          })),
        );
    };
    // The chain of the design card: the aggregator keeps every figure, the detector judges its agent-stats.
    aggregator = await startService('aggregator', 19113, {
      ...env,
      CONSUMER_GROUP: `aggregator-${ns}`,
      STATE_DIR: mkdtempSync(join(tmpdir(), 'detector-test-')),
    });
    svc = await startService('detector', 19103, env);
    // Up to an hour after the swap: it has paged. Then the detector is killed and a new one restores the open incident
    // from its changelog, so the rest of the swapped day (the same condition, still there) does not page again.
    const cut = runs.findIndex((r) => r.run.finished_at > onset + 3_600_000);
    await publish(runs.slice(0, cut));
    const paged = async () =>
      (
        await readTopic<Anomaly>(kafka, T.anomalies, { expected: 1, serde, timeoutMs: 5_000, settleMs: 500 })
      ).some((r) => r.value.rule === 'cost_per_run_jump' && r.value.agent_id === victim.agentId);
    for (const until = Date.now() + 120_000; !(await paged());)
      if (Date.now() > until) throw new Error('the swap did not page within two minutes');
    await svc.stop('SIGKILL');
    svc = await startService('detector', 19103, env);
    await publish(runs.slice(cut));
    await producer.disconnect();

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

    // The restarted process restored the open incidents of its partitions (by assignment: no restore group left).
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    const restored = metrics
      .split('\n')
      .find((l) => l.startsWith('burnrate_state_restored_records_total{') && l.includes('store="detector"'));
    expect(Number(restored?.split(' ').pop())).toBeGreaterThan(0);
  });

  it('judges a team again as soon as its settings change: a budget set below today’s spend pages with no new run', async () => {
    // the services of the test above (SETTINGS_POLL_MS 500), or our own
    aggregator ??= await startService('aggregator', 19113, {
      ...env,
      CONSUMER_GROUP: `aggregator-${ns}`,
      STATE_DIR: mkdtempSync(join(tmpdir(), 'detector-test-')),
    });
    svc ??= await startService('detector', 19103, env);
    const quiet = `settings-${ns}`;
    const now = Date.now();
    const spent = [0, 1, 2].map((i) =>
      pricedRun(
        runEvent({
          team: quiet,
          agent_id: 'quiet-agent',
          run_id: `q-${ns}-${i}`,
          finished_at: now - (3 - i) * 60_000,
          customer_id: 'acme',
        }),
        1_000_000_000,
      ),
    );
    const producer = new BatchProducer(kafka);
    await producer.connect();
    await producer.send(
      spent.map((r) => ({
        topic: T.runsPriced.name,
        key: agentKey(r.team, r.run.agent_id),
        value: serde.encode(T.runsPriced, r),
      })),
    );
    await producer.disconnect();
    const statsSerde = await AvroSerde.create(config, [T.agentStats]);
    // the aggregator has judged them (its stats record is out) before the budget is set
    const judged = async () =>
      (
        await readTopic(kafka, T.agentStats, {
          expected: 1,
          serde: statsSerde,
          timeoutMs: 3_000,
          settleMs: 300,
        })
      ).some((r) => r.key === agentKey(quiet, 'quiet-agent'));
    for (const until = Date.now() + 60_000; !(await judged());)
      if (Date.now() > until) throw new Error('the runs were not aggregated within a minute');
    const budgetPages = async (timeoutMs: number) =>
      (await readTopic<Anomaly>(kafka, T.anomalies, { expected: 1, serde, timeoutMs, settleMs: 500 }))
        .map((r) => r.value)
        .filter((a) => a.team === quiet && a.rule === 'budget');
    expect(await budgetPages(2_000)).toEqual([]);

    // $3 spent today; budgets of $2 for the agent and the customer, set as the api sets them (committed, then answered)
    const pool = createPool(await migrated(), 1);
    try {
      await pool.query(
        `insert into budgets (team, scope, subject, period, amount_nanos, currency)
         values ($1, 'agent', 'quiet-agent', 'day', 2000000000, 'USD'), ($1, 'customer', 'acme', 'day', 2000000000, 'USD')`,
        [quiet],
      );
    } finally {
      await pool.end();
    }
    const asked = Date.now();
    let pages: Anomaly[] = [];
    for (const until = asked + 30_000; pages.length < 2 && Date.now() < until;)
      pages = await budgetPages(3_000);
    expect(pages.map((a) => [a.agent_id, a.details.scope, a.state]).sort()).toEqual([
      [null, 'customer', 'firing'],
      ['quiet-agent', 'agent', 'firing'],
    ]);
    expect(pages.find((a) => a.agent_id === 'quiet-agent')).toMatchObject({
      observed: 3,
      trigger_run_id: null,
    });
    expect(Date.now() - asked).toBeLessThan(30_000);
  }, 120_000);
});
