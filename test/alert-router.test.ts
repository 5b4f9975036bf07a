import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { AlertOutboxRepository, RouteRepository, type Anomaly, type OutboxRow } from '@libs/alerting';
import { topicsIn } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { FakeVendors } from './support/fake-vendors';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const config = testConfig();
const ns = `t${uid()}`;
const T = topicsIn(ns);
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';
/** The fake vendors listen on loopback, which a tenant's route may reach only when the operator allows it. */
const ALLOWLIST = '127.0.0.1';
const SLOW_MS = 5000;

/** Destinations the fake vendors cannot play: one that redirects, one that answers only after SLOW_MS. */
class OddDestinations {
  readonly slowRequests: number[] = [];
  private server!: Server;
  port = 0;

  constructor(private readonly redirectTo: () => string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      if (req.url === '/redirect') res.writeHead(307, { location: this.redirectTo() }).end();
      else {
        this.slowRequests.push(Date.now());
        setTimeout(() => res.writeHead(202).end(), SLOW_MS);
      }
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

function anomaly(team: string, over: Partial<Anomaly> = {}): Anomaly {
  const now = Date.now();
  const window_start = Math.floor(now / 86_400_000) * 86_400_000;
  return {
    anomaly_id: `a-${uid()}`,
    dedupe_key: `spend_zscore|${team}|research-agent||${new Date(window_start).toISOString()}`,
    rule: 'spend_zscore',
    severity: 'critical',
    state: 'firing',
    team,
    agent_id: 'research-agent',
    window_start,
    window_end: window_start + 86_400_000,
    observed: 409_000_000_000,
    threshold: 60_000_000_000,
    baseline_mean: 25_000_000_000,
    baseline_stddev: 14_000_000_000,
    zscore: 27.4,
    currency: 'USD',
    cost_per_run_before_nanos: 118_000_000,
    cost_per_run_now_nanos: 1_910_000_000,
    top_customers: [{ name: '(unattributed)', spend_nanos: 409_000_000_000 }],
    top_features: [{ name: 'backfill', spend_nanos: 409_000_000_000 }],
    summary:
      'research-agent spent $409 today against a 14-day mean of $25 (z = 27.4); cost per run $0.118 → $1.91.',
    started_at: now - 3_600_000,
    detected_at: now,
    late: false,
    details: {},
    trigger_run_id: 'run-x',
    ...over,
  } as Anomaly;
}

describe('alert router (own process; local vendor servers and a real SMTP server; real stack)', () => {
  const vendors = new FakeVendors(SECRET);
  const odd = new OddDestinations(() => vendors.url('/hook-redirected'));
  let kafka: Kafka;
  let serde: AvroSerde;
  let producer: BatchProducer;
  let pool: Pool;
  let router: ServiceProcess;
  const team = `team-${uid()}`;
  let env: Record<string, string>;

  beforeAll(async () => {
    await vendors.start();
    await odd.start();
    pool = createPool(await migrated(), 2);
    kafka = testKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(T));
    await admin.disconnect();
    serde = await AvroSerde.create(config, [T.anomalies, T.alertDeliveries]);
    producer = new BatchProducer(kafka);
    await producer.connect();
    const routes = new RouteRepository(pool, undefined, { allowList: ALLOWLIST });
    await routes.create({
      team,
      match: { agent_id: 'research-*', severity: ['critical', 'error'] },
      destinations: [
        { type: 'pagerduty', routing_key: ROUTING_KEY },
        { type: 'slack', webhook_url: vendors.url('/slack') },
        { type: 'teams', webhook_url: vendors.url('/teams') },
        { type: 'webhook', url: vendors.url('/hook'), secret: SECRET },
        { type: 'email', to: ['oncall@example.com'] },
      ],
    });
    await routes.create({
      team,
      match: { agent_id: 'flaky-*' },
      destinations: [{ type: 'webhook', url: vendors.url('/hook-flaky'), secret: SECRET }],
    });
    await routes.create({
      team,
      match: { agent_id: 'limited-*' },
      destinations: [{ type: 'webhook', url: vendors.url('/hook-limited'), secret: SECRET }],
    });
    await routes.create({
      team,
      match: { agent_id: 'down-*' },
      destinations: [{ type: 'webhook', url: vendors.url('/hook-down'), secret: SECRET }],
    });
    await routes.create({
      team,
      match: { agent_id: 'gone-*' },
      destinations: [{ type: 'webhook', url: vendors.url('/hook-gone'), secret: SECRET }],
    });
    await routes.create({
      team,
      match: { agent_id: 'redirect-*' },
      destinations: [{ type: 'webhook', url: odd.url('/redirect'), secret: SECRET }],
    });
    await routes.create({
      team,
      match: { agent_id: 'lanes-*' },
      destinations: [
        { type: 'webhook', url: odd.url('/slow'), secret: SECRET },
        { type: 'webhook', url: vendors.url('/hook-fast'), secret: SECRET },
      ],
    });
    // as if made before the address checks, or the name re-pointed since: only the delivery-time check stands
    await pool.query('insert into alert_routes (id, team, match, destinations) values ($1, $2, $3, $4)', [
      randomUUID(),
      team,
      JSON.stringify({ agent_id: 'internal-*' }),
      JSON.stringify([{ type: 'webhook', url: 'http://10.0.0.1:9/hook', secret: SECRET }]),
    ]);
    env = {
      BURNRATE_TOPIC_NAMESPACE: ns,
      CONSUMER_GROUP: `router-${ns}`,
      PAGERDUTY_EVENTS_URL: vendors.url('/pagerduty'),
      SMTP_URL: `smtp://alerts:s3cr3t-smtp@127.0.0.1:${vendors.smtpPort}`,
      RETRY_WEBHOOK: '200ms,5s,1h',
      POLL_MS: '100',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      PUBLIC_URL: 'https://burnrate.example',
      ALERT_DESTINATION_ALLOWLIST: ALLOWLIST,
    };
    router = await startService('alert-router', 18404, env);
  });

  afterAll(async () => {
    await router?.stop();
    await producer?.disconnect();
    await pool?.end();
    await vendors.stop();
    await odd.stop();
  });

  const publish = (a: Anomaly) =>
    producer.send([{ topic: T.anomalies.name, key: a.dedupe_key, value: serde.encode(T.anomalies, a) }]);

  it('delivers one anomaly to PagerDuty, Slack, Teams, a signed webhook and email, each as its vendor documents', async () => {
    const a = anomaly(team);
    await publish(a);
    await until(
      'all destinations',
      () =>
        vendors.mails.length >= 1 &&
        ['/pagerduty', '/slack', '/teams', '/hook'].every((p) => vendors.at(p).length >= 1),
      Boolean,
    );
    for (const p of ['/pagerduty', '/slack', '/teams', '/hook']) {
      expect(vendors.at(p)).toHaveLength(1);
      expect(vendors.at(p)[0].problems).toEqual([]);
    }
    const pd = vendors.at('/pagerduty')[0].body as {
      event_action: string;
      dedup_key: string;
      payload: { severity: string; summary: string; custom_details: Record<string, string> };
      links: { href: string }[];
    };
    // a record from before incidents is its own incident: an opaque key from its dedupe key, never tenant text
    expect(pd).toMatchObject({
      event_action: 'trigger',
      dedup_key: expect.stringMatching(/^inc_[A-Za-z0-9]+$/),
      payload: { severity: 'critical' },
    });
    expect(pd.payload.custom_details).toMatchObject({
      Agent: 'research-agent',
      Team: team,
      'Cost per run': '0.1180 USD → 1.91 USD',
    });
    expect(pd.links[0].href).toBe(`https://burnrate.example/incidents/${pd.dedup_key}`);
    expect(JSON.stringify(vendors.at('/slack')[0].body)).toContain('research-agent');
    expect(vendors.at('/hook')[0].body).toMatchObject({
      type: 'incident.triggered',
      data: { anomaly_id: a.anomaly_id, incident_key: pd.dedup_key, action: 'trigger' },
    });
    expect(vendors.mails[0].to).toBe('oncall@example.com');
    const subject = /^Subject: (.*(?:\r?\n .*)*)/m.exec(vendors.mails[0].raw)![1];
    const decoded = subject
      .replace(/=\?UTF-8\?Q\?(.*?)\?=/g, (_m, q: string) =>
        Buffer.from(
          q
            .replace(/_/g, ' ')
            .replace(/=([0-9A-F]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
          'latin1',
        ).toString('utf8'),
      )
      .replace(/\r?\n /g, '');
    expect(decoded.replace(/\s+/g, ' ')).toMatch(/\[burnrate\] research-agen ?t — incident [0-9a-zA-Z_-]{8}/);
    expect(vendors.mails[0].raw).toContain('CRITICAL: research-agent');
    expect(vendors.mails[0].raw).toMatch(/Content-Type: multipart\/alternative/);
    expect(vendors.mails[0].raw).toMatch(/Content-Type: text\/html/);
    expect(vendors.mails[0].raw).toContain('Agent: research-agent');

    // The same anomaly redelivered on the topic pages nobody again.
    await publish(a);
    await new Promise((r) => setTimeout(r, 1500));
    expect(vendors.at('/pagerduty')).toHaveLength(1);

    // A resolve reaches PagerDuty with the same dedup_key.
    await publish({ ...a, anomaly_id: `${a.anomaly_id}-resolved`, state: 'resolved', severity: 'info' });
    const resolve = await until(
      'resolve',
      () => vendors.at('/pagerduty').filter((r) => r.body.event_action === 'resolve'),
      (r) => r.length === 1,
    );
    expect(resolve[0].body).toMatchObject({
      event_action: 'resolve',
      dedup_key: pd.dedup_key,
      routing_key: ROUTING_KEY,
    });
  });

  it('retries a 500 and delivers exactly once; honours Retry-After on 429; fails a 404 at once', async () => {
    vendors.script.set('/hook-flaky', [{ status: 500 }]);
    vendors.script.set('/hook-limited', [{ status: 429, retryAfter: '2' }]);
    vendors.script.set('/hook-gone', [{ status: 404 }]);
    await publish(anomaly(team, { agent_id: 'flaky-agent', dedupe_key: `flaky-${uid()}` }));
    await publish(anomaly(team, { agent_id: 'limited-agent', dedupe_key: `limited-${uid()}` }));
    const gone = anomaly(team, { agent_id: 'gone-agent', dedupe_key: `gone-${uid()}` });
    await publish(gone);
    const flaky = await until(
      'flaky',
      () => vendors.at('/hook-flaky'),
      (r) => r.length >= 2,
    );
    const limited = await until(
      'limited',
      () => vendors.at('/hook-limited'),
      (r) => r.length >= 2,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(vendors.at('/hook-flaky')).toHaveLength(2); // one 500, one success, no more
    expect(flaky[0].headers['webhook-id']).toBe(flaky[1].headers['webhook-id']); // receivers can dedupe
    expect(limited[1].at - limited[0].at).toBeGreaterThanOrEqual(1900);
    expect(vendors.at('/hook-gone')).toHaveLength(1);
    const { rows } = await pool.query(
      'select state, attempts, last_status, last_error from alert_outbox where anomaly_id = $1',
      [gone.anomaly_id],
    );
    expect(rows[0]).toEqual({ state: 'failed', attempts: 1, last_status: 404, last_error: 'HTTP 404' });
    const recorded = await readTopic<{ delivery_id: string; outcome: string; destination: string }>(
      kafka,
      T.alertDeliveries,
      { expected: 8, serde },
    );
    expect(recorded.some((r) => r.value.outcome === 'retrying')).toBe(true);
    expect(recorded.some((r) => r.value.outcome === 'failed')).toBe(true);
    expect(JSON.stringify(recorded.map((r) => r.value))).not.toMatch(/R0UT1NGKEY|MfKQ9r8G|s3cr3t-smtp/);
  });

  it('keeps retries pending across a crash and delivers them after the restart', async () => {
    vendors.script.set(
      '/hook-down',
      Array.from({ length: 1000 }, () => ({ status: 503 })),
    );
    await publish(anomaly(team, { agent_id: 'down-agent', dedupe_key: `down-${uid()}` }));
    await until(
      'first attempts',
      () => vendors.at('/hook-down'),
      (r) => r.length >= 1,
    );
    await router.stop('SIGKILL');
    vendors.script.set('/hook-down', []); // the receiver is back
    const before = vendors.at('/hook-down').length;
    router = await startService('alert-router', 18404, env);
    await until(
      'delivered after restart',
      () => vendors.at('/hook-down').slice(before),
      (r) => r.length >= 1,
      90_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(vendors.at('/hook-down').slice(before)).toHaveLength(1);
  });

  it('records anomalies and delivery attempts, and the api lists them for the team only, secrets masked', async () => {
    const recorder = await startService('recorder', 18405, { ...env, CONSUMER_GROUP: `recorder-${ns}` });
    const api = await startService('api', 18406, env);
    try {
      const key = (await createKey(team)).key;
      const other = (await createKey(`other-${uid()}`)).key;
      const get = async (path: string, k: string) =>
        (await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${k}` } })).json();
      const listed = await until(
        'anomalies stored',
        async () =>
          (await get(`/v1/anomalies?agent_id=research-agent`, key)) as {
            anomalies: { state: string; team: string; detected_at: string }[];
          },
        (b) => b.anomalies.some((a) => a.state === 'resolved'),
      );
      expect(listed.anomalies.every((a) => a.team === team)).toBe(true);
      expect(listed.anomalies[0].detected_at).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      const deliveries = await until(
        'deliveries stored',
        async () =>
          (await get('/v1/alert-deliveries?outcome=delivered', key)) as {
            deliveries: { destination_type: string; destination: unknown }[];
          },
        (b) => b.deliveries.some((d) => d.destination_type === 'pagerduty'),
      );
      expect(JSON.stringify(deliveries)).not.toMatch(/R0UT1NGKEY|MfKQ9r8G/);
      expect(((await get('/v1/anomalies', other)) as { anomalies: unknown[] }).anomalies).toEqual([]);
      expect(
        (
          await fetch(`${api.url}/v1/anomalies?state=melting`, {
            headers: { authorization: `Bearer ${key}` },
          })
        ).status,
      ).toBe(400);
    } finally {
      await Promise.all([recorder.stop(), api.stop()]);
    }
  });

  const outboxOf = async (anomalyId: string) =>
    (
      await pool.query<{
        state: string;
        attempts: number;
        last_status: number | null;
        last_error: string | null;
      }>(
        'select state, attempts, last_status, last_error from alert_outbox where anomaly_id = $1 order by id',
        [anomalyId],
      )
    ).rows;

  it('refuses a route to a loopback address at creation unless ALERT_DESTINATION_ALLOWLIST admits it', async () => {
    const api = await startService('api', 18407, { ...env, ALERT_DESTINATION_ALLOWLIST: '' });
    try {
      const key = (await createKey(team)).key;
      const res = await fetch(`${api.url}/v1/routes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          team,
          destinations: [{ type: 'webhook', url: vendors.url('/hook-never'), secret: SECRET }],
        }),
      });
      expect(res.status).toBe(400);
      const answer = JSON.stringify(await res.json());
      expect(answer).toContain('destinations[0].url');
      expect(answer).toContain(
        'destination resolves to a loopback address 127.0.0.1; not in ALERT_DESTINATION_ALLOWLIST',
      );
    } finally {
      await api.stop();
    }
    await expect(
      new RouteRepository(pool).create({
        team,
        destinations: [{ type: 'slack', webhook_url: vendors.url('/slack') }],
      }),
    ).rejects.toThrow(/destinations\[0\]\.webhook_url: destination resolves to a loopback address/);
  });

  it('fails a delivery at once when its destination resolves to a private address', async () => {
    const a = anomaly(team, { agent_id: 'internal-agent', dedupe_key: `internal-${uid()}` });
    await publish(a);
    const rows = await until(
      'refused delivery',
      () => outboxOf(a.anomaly_id),
      (r) => r.length === 1 && r[0].state !== 'pending',
    );
    expect(rows[0]).toEqual({
      state: 'failed',
      attempts: 1,
      last_status: null,
      last_error: 'destination resolves to a private address 10.0.0.1; not in ALERT_DESTINATION_ALLOWLIST',
    });
  });

  it('does not follow a redirect: the delivery fails with the redirect status', async () => {
    const a = anomaly(team, { agent_id: 'redirect-agent', dedupe_key: `redirect-${uid()}` });
    await publish(a);
    const rows = await until(
      'redirected delivery',
      () => outboxOf(a.anomaly_id),
      (r) => r.length === 1 && r[0].state !== 'pending',
    );
    expect(rows[0]).toMatchObject({ state: 'failed', attempts: 1, last_status: 307 });
    expect(rows[0].last_error).toMatch(/redirects are not followed/);
    await new Promise((r) => setTimeout(r, 500));
    expect(vendors.at('/hook-redirected')).toHaveLength(0);
  });

  it('delivers to one destination while another takes its time answering', async () => {
    const a = anomaly(team, { agent_id: 'lanes-agent', dedupe_key: `lanes-${uid()}` });
    await publish(a);
    const fast = await until(
      'fast destination',
      () => vendors.at('/hook-fast'),
      (r) => r.length === 1,
    );
    expect(odd.slowRequests).toHaveLength(1);
    // the slow destination was asked first (its row comes first) and has not answered yet
    expect(fast[0].at - odd.slowRequests[0]).toBeLessThan(SLOW_MS / 2);
    const rows = await until(
      'both delivered',
      () => outboxOf(a.anomaly_id),
      (r) => r.every((x) => x.state === 'delivered'),
      SLOW_MS + 10_000,
    );
    expect(rows).toHaveLength(2);
  });

  it('lets only the replica holding a row’s lease write its outcome', async () => {
    const outbox = new AlertOutboxRepository(pool);
    const a = anomaly(team, { agent_id: 'fenced-agent', dedupe_key: `fenced-${uid()}` });
    // leased far ahead, so the running router leaves it alone: replica A claimed it (attempts 1)
    const { rows } = await pool.query<OutboxRow>(
      `insert into alert_outbox (delivery_id, anomaly_id, dedupe_key, incident_key, action, destination_key, destination,
         anomaly, attempts, next_attempt_at)
       values ($1, $2, $3, $3, 'trigger', $4, $5, $6, 1, now() + interval '1 hour')
       returning id, delivery_id, anomaly_id, dedupe_key, incident_key, action, destination_key, destination, anomaly,
         attempts, created_at`,
      [
        `${a.anomaly_id}:fenced`,
        a.anomaly_id,
        a.dedupe_key,
        `fenced-${uid()}`,
        JSON.stringify({ type: 'webhook', url: vendors.url('/hook-fenced'), secret: SECRET }),
        JSON.stringify(a),
      ],
    );
    const heldByA = rows[0];
    // A's lease ran out and replica B claimed the row
    await pool.query('update alert_outbox set attempts = attempts + 1 where id = $1', [heldByA.id]);
    const heldByB = { ...heldByA, attempts: heldByA.attempts + 1 };
    expect(await outbox.renew(heldByA, 30_000)).toBe(false);
    expect(await outbox.finish(heldByA, 'failed', 500, 'HTTP 500')).toBe(false);
    expect(await outbox.reschedule(heldByA, 1000, 503, 'HTTP 503')).toBe(false);
    expect(await outbox.finish(heldByB, 'delivered', 202, null)).toBe(true);
    expect(await outboxOf(a.anomaly_id)).toEqual([
      { state: 'delivered', attempts: 2, last_status: 202, last_error: null },
    ]);
  });
});
