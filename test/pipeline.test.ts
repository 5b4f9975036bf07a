import type { Pool } from 'pg';
import { RouteRepository } from '@libs/alerting';
import { topicsIn, type PricedRun, type RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { FakeVendors } from './support/fake-vendors';
import { runEvent } from './support/fixtures';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { seededCard, seededCost, storedBeside } from './support/stored';
import { readTopic, testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const config = testConfig();
const ns = `t${uid()}`;
const T = topicsIn(ns);
const DAY = 86_400_000;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/**
 * The whole pipeline, each service its own process on the real stack: runs in over HTTP and straight onto Kafka,
 * pricing killed and restarted mid-stream, and out come each run stored once at its exact price, each agent's day and
 * baseline as the aggregator computed them, and the model swap's alert delivered, signed, to the team's webhook.
 */
describe('full pipeline (every service a process; HTTP and Kafka in; a crash mid-stream)', () => {
  const vendors = new FakeVendors(SECRET);
  const services: ServiceProcess[] = [];
  const team = `team-${ns}`;
  let pool: Pool;

  beforeAll(async () => {
    await vendors.start();
    pool = createPool(await migrated(), 2);
    const admin = testKafka(config).admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(T));
    await admin.disconnect();
    await new RouteRepository(pool, undefined, { allowList: '127.0.0.1' }).create({
      team,
      match: {},
      destinations: [{ type: 'webhook', url: vendors.url('/hook'), secret: SECRET }],
    });
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await pool?.end();
    await vendors.stop();
  });

  it('stores every run once at its exact price and delivers the model-swap alert, across a pricing crash', async () => {
    const env = {
      BURNRATE_TOPIC_NAMESPACE: ns,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      INSTANCE_ID: ns,
      ALERT_DESTINATION_ALLOWLIST: '127.0.0.1',
    };
    const start = (name: string, port: number) =>
      startService(name, port, {
        ...env,
        CONSUMER_GROUP: `${name}-${ns}`,
        RETRY_WEBHOOK: '200ms,5s,1h',
        POLL_MS: '100',
      });
    const ingestion = await start('ingestion', 18501);
    services.push(
      ingestion,
      await start('recorder', 18502),
      await start('detector', 18503),
      await start('alert-router', 18504),
      await start('aggregator', 18506),
    );
    let pricing = await start('pricing', 18505);
    services.push(pricing);

    // 9 days of normal history for three agents on claude-haiku-4-5, then today the victim swaps to claude-opus-4-1.
    const now = Date.now();
    const today = Math.floor(now / DAY) * DAY;
    const runs: RunEvent[] = [];
    const base = (agent: string, finished: number, i: number, model = 'claude-haiku-4-5'): RunEvent =>
      runEvent({
        run_id: `${ns}-${agent}-${i}`,
        agent_id: agent,
        team,
        model,
        provider: 'anthropic',
        input_tokens: 3000 + (i % 7) * 100,
        output_tokens: 400 + (i % 5) * 20,
        started_at: finished - 2000,
        finished_at: finished,
        customer_id: 'acme',
        feature: 'triage',
      });
    let i = 0;
    for (const agent of ['agent-http-a', 'agent-http-b', 'agent-kafka']) {
      for (let day = today - 9 * DAY; day < today; day += DAY) {
        for (let k = 0; k < 60; k++) runs.push(base(agent, day + 600_000 + k * 1_200_000, i++));
      }
      for (let k = 0; k < 20; k++)
        runs.push(base(agent, Math.round(today + (k * (now - 3_600_000 - today)) / 20), i++));
    }
    const swap = Array.from({ length: 40 }, (_, k) =>
      base('agent-http-a', now - 120_000 + k * 2000, i++, 'claude-opus-4-1'),
    );

    const http = runs.filter((r) => r.agent_id !== 'agent-kafka');
    const viaKafka = runs.filter((r) => r.agent_id === 'agent-kafka');
    const { key } = await createKey(team);
    const post = async (batch: RunEvent[]) => {
      const body = batch.map((r) => ({
        ...r,
        started_at: new Date(r.started_at).toISOString(),
        finished_at: new Date(r.finished_at).toISOString(),
      }));
      const res = await fetch(`${ingestion.url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(202);
    };
    const kafka = testKafka(config);
    const serde = await AvroSerde.create(config, [T.runsRaw, T.runsPriced]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    for (let k = 0; k < http.length; k += 100) {
      await post(http.slice(k, k + 100));
      if (k === 500) {
        await pricing.stop('SIGKILL'); // mid-stream
        pricing = await start('pricing', 18505);
        services.push(pricing);
      }
    }
    await producer.send(
      viaKafka.map((r) => ({
        topic: T.runsRaw.name,
        key: `${team}/${r.agent_id}`,
        value: serde.encode(T.runsRaw, { ...r, source: 'kafka' }),
      })),
    );
    await post(swap);
    await producer.disconnect();

    const all = [...runs, ...swap];
    const { stored, expected } = await storedBeside(pool, team, all);
    expect(stored).toEqual(expected);

    const priced = await readTopic<PricedRun>(kafka, T.runsPriced, {
      expected: all.length,
      serde,
      settleMs: 2000,
    });
    const ids = priced.map((p) => p.value.run.run_id);
    expect(ids).toHaveLength(all.length); // the crash neither lost nor doubled a priced run
    expect(new Set(ids).size).toBe(all.length);

    // Stats: each agent's day and 9-day baseline, stored, equal to the same arithmetic done here.
    const card = await seededCard();
    const cost = (r: RunEvent) => Number(seededCost(card, r));
    for (const agent of ['agent-http-a', 'agent-http-b', 'agent-kafka']) {
      const mine = all.filter((r) => r.agent_id === agent);
      const todays = mine.filter((r) => r.finished_at >= today);
      const days = Array.from({ length: 9 }, (_, d) =>
        mine
          .filter((r) => r.finished_at >= today - (9 - d) * DAY && r.finished_at < today - (8 - d) * DAY)
          .reduce((a, r) => a + cost(r), 0),
      );
      const mean = days.reduce((a, b) => a + b, 0) / days.length;
      const row = await until(
        `agent stats of ${agent}`,
        async () =>
          (
            await pool.query<{ runs: string; spend: string; days: number; mean: number; stddev: number }>(
              `select runs, spend_nanos as spend, baseline_days as days, baseline_mean_nanos as mean,
                 baseline_stddev_nanos as stddev
               from agent_stats where team = $1 and agent_id = $2 and day_start = $3`,
              [team, agent, new Date(today).toISOString()],
            )
          ).rows[0],
        (r) => r !== undefined && Number(r.runs) === todays.length,
      );
      expect(Number(row.spend)).toBe(todays.reduce((a, r) => a + cost(r), 0));
      expect(row.days).toBe(9);
      expect(row.mean).toBeCloseTo(mean, 2);
      const sd = Math.sqrt(days.reduce((a, x) => a + (x - mean) ** 2, 0) / (days.length - 1));
      expect(row.stddev).toBeCloseTo(sd, 2);
    }

    const alert = await until(
      'model swap alert',
      () =>
        vendors
          .at('/hook')
          .filter(
            (r) =>
              (r.body.data as { agent_id?: string; rule?: string })?.agent_id === 'agent-http-a' &&
              (r.body.data as { rule: string }).rule === 'cost_per_run_jump',
          ),
      (a) => a.length > 0,
    );
    expect(alert[0].problems).toEqual([]); // signature verifies
    // the cost-per-run jump opened the agent's incident, or joined the one another signal had opened
    expect(alert[0].body).toMatchObject({
      type: expect.stringMatching(/^incident\.(triggered|updated)$/),
      data: { team, incident_id: expect.stringMatching(/^inc_/) },
    });
  }, 300_000);
});
