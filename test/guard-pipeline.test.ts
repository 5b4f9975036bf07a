import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import {
  agentKey,
  controlKey,
  topicsIn,
  type AgentControl,
  type AnomalyRecord,
  type PricedRun,
} from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { PgTeamSettingsRepository } from '@libs/team-settings';
import { pricedRun, runEvent } from './support/fixtures';
import { migrated, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const ns = `t${uid()}`;
const T = topicsIn(ns);
const WINDOW_S = 60;

/**
 * The guard's pipeline half on the real stack: team settings with a guard rule, priced runs through the aggregator
 * (its windows) and the detector (its decisions) as their own processes, and what comes out on agent-controls and
 * anomalies — the block, then, once its until has passed on the wall clock, the sweep's tombstone and resolution.
 */
describe('guard pipeline (aggregator windows -> detector decisions -> agent-controls, real stack)', () => {
  let kafka: Kafka;
  let serde: AvroSerde;
  const services: ServiceProcess[] = [];
  const team = `guard-${ns}`;
  const env = {
    BURNRATE_TOPIC_NAMESPACE: ns,
    INSTANCE_ID: 'test',
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    SETTINGS_POLL_MS: '500',
  };

  beforeAll(async () => {
    const url = await migrated();
    kafka = testKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, [
      T.runsPriced,
      T.agentStats,
      T.teamSpend,
      T.anomalies,
      T.agentControls,
    ]);
    await admin.disconnect();
    serde = await AvroSerde.create(config, [T.runsPriced, T.anomalies, T.agentControls]);
    const pool = createPool(url, 1);
    try {
      // as PUT /v1/teams/{team}/settings stores it
      await new PgTeamSettingsRepository(pool).save(team, {
        guard: [
          {
            id: 'loop-cap',
            action: 'block',
            match: { agent: 'loop-*' },
            limit: { metric: 'runs', amount: 5, window_s: WINDOW_S },
          },
        ],
      });
    } finally {
      await pool.end();
    }
    services.push(
      await startService('aggregator', 19123, {
        ...env,
        CONSUMER_GROUP: `aggregator-${ns}`,
        STATE_DIR: mkdtempSync(join(tmpdir(), 'guard-test-')),
      }),
      await startService('detector', 19133, {
        ...env,
        CONSUMER_GROUP: `detector-${ns}`,
        GUARD_SWEEP_MS: '300',
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
  });

  /** Every record of the namespaced agent-controls topic: tombstones as null. */
  async function controls(expected: number, timeoutMs: number) {
    const records = await readTopic<Buffer | null>(kafka, T.agentControls, {
      expected,
      timeoutMs,
      settleMs: 500,
    });
    return Promise.all(
      records.map(async (r) => ({
        key: r.key,
        timestamp: r.timestamp,
        value: r.raw === null ? null : await serde.decode<AgentControl>(T.agentControls, r.raw),
      })),
    );
  }

  const guardAnomalies = async (expected: number, timeoutMs: number) =>
    (await readTopic<AnomalyRecord>(kafka, T.anomalies, { expected, serde, timeoutMs, settleMs: 500 }))
      .map((r) => r.value)
      .filter((a) => a.rule === 'guard_limit');

  it('blocks the looping agent with the right key, reason and until, pages it, and lifts both once until passes', async () => {
    // six runs a few hundred ms apart, finished ~50 s ago: the sixth crosses `runs > 5 in 60 s`, so until (the
    // crossing plus the window) is ~10 s from now. research-1 sends as many: no rule takes it.
    const base = Date.now() - 50_000;
    const runs: PricedRun[] = [];
    for (const agent of ['loop-1', 'research-1'])
      for (let i = 0; i < 6; i++)
        runs.push(
          pricedRun(
            runEvent({
              run_id: `${ns}-${agent}-${i}`,
              team,
              agent_id: agent,
              customer_id: 'acme',
              finished_at: base + i * 200,
              started_at: base + i * 200 - 100,
            }),
            1_000_000,
          ),
        );
    const producer = new BatchProducer(kafka);
    await producer.connect();
    await producer.send(
      runs.map((r) => ({
        topic: T.runsPriced.name,
        key: agentKey(r.team, r.run.agent_id),
        value: serde.encode(T.runsPriced, r),
      })),
    );
    await producer.disconnect();

    const key = controlKey.rule('loop-cap', team, 'loop-1');
    const crossing = base + 5 * 200;
    const blocked = (await controls(1, 60_000)).filter((c) => c.value !== null);
    expect(blocked.map((c) => c.key)).toEqual([key]);
    const block = blocked[0].value!;
    expect(block).toMatchObject({
      team,
      agent_id: 'loop-1',
      customer_id: null,
      tool: null,
      action: 'block',
      source: 'rule',
      source_id: 'loop-cap',
      metric: 'runs',
      amount: 5,
      observed: 6,
      window_s: WINDOW_S,
      since: crossing,
      until: crossing + WINDOW_S * 1000,
    });
    expect(block.reason).toMatch(
      /^Guard rule loop-cap: agent loop-1 reached 6 runs within 60 s, over its limit of 5 runs/,
    );
    expect(block.until!).toBeGreaterThan(Date.now());

    const [firing] = await guardAnomalies(1, 30_000);
    expect(firing).toMatchObject({
      state: 'firing',
      severity: 'critical',
      team,
      agent_id: 'loop-1',
      observed: 6,
      threshold: 5,
      window_start: crossing,
      window_end: block.until,
      incident_action: 'open',
    });
    expect(firing.dedupe_key).toBe(block.incident_dedupe_key);

    // no run comes (the agent is blocked): the detector's wall-clock sweep lifts the block once until has passed
    const waitMs = block.until! - Date.now();
    const lifted = await controls(2, waitMs + 30_000);
    expect(lifted.map((c) => [c.key, c.value === null])).toEqual([
      [key, false],
      [key, true],
    ]);
    expect(lifted[1].timestamp).toBeGreaterThanOrEqual(block.until!);
    const after = await guardAnomalies(2, 30_000);
    expect(after.map((a) => [a.state, a.incident_action])).toEqual([
      ['firing', 'open'],
      ['resolved', 'resolve'],
    ]);
    expect(after[1].dedupe_key).toBe(firing.dedupe_key);
  }, 150_000);
});
