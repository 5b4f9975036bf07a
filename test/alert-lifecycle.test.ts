import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { RouteRepository, type Anomaly, type Destination } from '@libs/alerting';
import { topicsIn } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { FakeVendors } from './support/fake-vendors';
import { migrated, startService, type ServiceProcess } from './support/services';
import { testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

/**
 * The delivery lifecycle of an incident through the real alert router, against vendor fakes that answer what the
 * vendors answer: order per incident and destination (a firing and its resolve in one batch; a trigger in backoff
 * overtaken by its resolve), a re-firing as a new page, tenant text in identifiers, and every failure answer driven
 * through the router to its recorded outcome.
 */
const config = testConfig();
const ns = `t${uid()}`;
const T = topicsIn(ns);
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ROUTING_KEY = 'L1FECYCLEKEY0123456789abcdefABCD';

let seq = 0;
/** The records the detector emits for one incident of one signal: its opening firing and its resolve. */
function incident(team: string, agentId: string): { firing: Anomaly; resolved: Anomaly } {
  const now = Date.now();
  const day = Math.floor(now / 86_400_000) * 86_400_000;
  const dedupe = `spend_zscore|${team}|${agentId}||${new Date(day).toISOString()}`;
  const id = `inc_${uid()}${uid()}`;
  const base = {
    dedupe_key: dedupe,
    rule: 'spend_zscore',
    severity: 'critical',
    team,
    agent_id: agentId,
    window_start: day,
    window_end: day + 86_400_000,
    observed: 409_000_000_000,
    threshold: 60_000_000_000,
    baseline_mean: 25_000_000_000,
    baseline_stddev: 14_000_000_000,
    zscore: 27.4,
    currency: 'USD',
    cost_per_run_before_nanos: 118_000_000,
    cost_per_run_now_nanos: 1_910_000_000,
    top_customers: [],
    top_features: [],
    summary: `${agentId} spent $409 today against a 14-day mean of $25 (z = 27.4).`,
    started_at: now - 60_000,
    late: false,
    details: {},
    trigger_run_id: null,
    incident_id: id,
  };
  seq += 2;
  return {
    firing: {
      ...base,
      anomaly_id: `${dedupe}@${now}#${seq}`,
      state: 'firing',
      detected_at: now,
      incident_action: 'open',
      incident_signals: 1,
    } as Anomaly,
    resolved: {
      ...base,
      anomaly_id: `${dedupe}@${now}#${seq + 1}`,
      state: 'resolved',
      severity: 'info',
      summary: `Resolved: ${base.summary}`,
      detected_at: now + 1000,
      incident_action: 'resolve',
      incident_signals: 0,
    } as Anomaly,
  };
}

describe('alert delivery lifecycle (own process; strict vendor fakes; real stack)', () => {
  const vendors = new FakeVendors(SECRET);
  let kafka: Kafka;
  let serde: AvroSerde;
  let producer: BatchProducer;
  let pool: Pool;
  let router: ServiceProcess;
  let routes: RouteRepository;
  const team = `life-${uid()}`;

  /** A route for agents named `<prefix>*` to the given destinations. */
  const routeIds = new Map<string, string>();
  const route = async (prefix: string, destinations: Destination[]) =>
    routeIds.set(prefix, (await routes.create({ team, match: { agent_id: `${prefix}*` }, destinations })).id);

  beforeAll(async () => {
    await vendors.start();
    pool = createPool(await migrated(), 2);
    kafka = testKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(T));
    await admin.disconnect();
    serde = await AvroSerde.create(config, [T.anomalies, T.alertDeliveries]);
    producer = new BatchProducer(kafka);
    await producer.connect();
    routes = new RouteRepository(pool, undefined, { allowList: '127.0.0.1' });
    await route('order-', [{ type: 'pagerduty', routing_key: ROUTING_KEY }]);
    await route('backoff-', [{ type: 'webhook', url: vendors.url('/hook-backoff'), secret: SECRET }]);
    await route('refire-', [{ type: 'pagerduty', routing_key: ROUTING_KEY }]);
    await route('エージェント', [
      { type: 'pagerduty', routing_key: ROUTING_KEY },
      { type: 'slack', webhook_url: vendors.url('/slack-jp') },
      { type: 'teams', webhook_url: vendors.url('/teams-jp') },
      { type: 'webhook', url: vendors.url('/hook-jp'), secret: SECRET },
      { type: 'email', to: ['oncall-jp@example.com'] },
    ]);
    await route('archived-', [{ type: 'slack', webhook_url: vendors.url('/slack-archived') }]);
    await route('blocks-', [{ type: 'slack', webhook_url: vendors.url('/slack-blocks') }]);
    await route('pdlimit-', [{ type: 'pagerduty', routing_key: ROUTING_KEY }]);
    await route('connector-', [{ type: 'teams', webhook_url: vendors.url('/teams-connector') }]);
    await route('gone-', [{ type: 'webhook', url: vendors.url('/hook-gone'), secret: SECRET }]);
    await route('redirect-', [{ type: 'webhook', url: vendors.url('/hook-redirect'), secret: SECRET }]);
    await route('mailbad-', [{ type: 'email', to: ['nobody@example.com'] }]);
    await route('mailbusy-', [{ type: 'email', to: ['busy@example.com'] }]);
    router = await startService('alert-router', 18420, {
      BURNRATE_TOPIC_NAMESPACE: ns,
      CONSUMER_GROUP: `router-${ns}`,
      PAGERDUTY_EVENTS_URL: vendors.url('/pagerduty'),
      SMTP_URL: `smtp://alerts:pw@127.0.0.1:${vendors.smtpPort}`,
      POLL_MS: '100',
      RETRY_PAGERDUTY: '200ms,2s,1h',
      RETRY_SLACK: '200ms,2s,1h',
      RETRY_TEAMS: '200ms,2s,1h',
      RETRY_WEBHOOK: '200ms,2s,1h',
      RETRY_EMAIL: '200ms,2s,1h',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      PUBLIC_URL: 'https://console.burnrate.example',
      ALERT_DESTINATION_ALLOWLIST: '127.0.0.1',
    });
  });

  afterAll(async () => {
    await router?.stop();
    await producer?.disconnect();
    await pool?.end();
    await vendors.stop();
  });

  const publish = (...as: Anomaly[]) =>
    producer.send(
      as.map((a) => ({ topic: T.anomalies.name, key: a.dedupe_key, value: serde.encode(T.anomalies, a) })),
    );

  const outbox = async (incidentId: string) =>
    (
      await pool.query<{
        action: string;
        state: string;
        last_status: number | null;
        last_error: string | null;
      }>(
        'select action, state, last_status, last_error from alert_outbox where incident_key = $1 order by id',
        [incidentId],
      )
    ).rows;

  const settled = (incidentId: string, n: number) =>
    until(
      `${n} deliveries of ${incidentId} settled`,
      () => outbox(incidentId),
      (rows) => rows.length === n && rows.every((r) => r.state !== 'pending'),
      60_000,
    );

  it('sends a firing and its resolve published together in order: PagerDuty opens the alert, then resolves it', async () => {
    const { firing, resolved } = incident(team, 'order-agent');
    await publish(firing, resolved);
    expect((await settled(firing.incident_id!, 2)).map((r) => [r.action, r.state])).toEqual([
      ['trigger', 'delivered'],
      ['resolve', 'delivered'],
    ]);
    const events = vendors.at('/pagerduty').filter((r) => r.body.dedup_key === firing.incident_id);
    expect(events.map((e) => e.body.event_action)).toEqual(['trigger', 'resolve']);
    expect(events.flatMap((e) => e.problems)).toEqual([]);
    expect(vendors.alertState(firing.incident_id!, ROUTING_KEY)).toBe('resolved');
  });

  it('holds a resolve until its trigger, retried after a 500, has gone: the receiver sees them in order', async () => {
    vendors.fail('/hook-backoff', 'server_error', 1);
    const { firing, resolved } = incident(team, 'backoff-agent');
    await publish(firing);
    await until(
      'first attempt',
      () => vendors.at('/hook-backoff'),
      (r) => r.length >= 1,
    );
    await publish(resolved);
    const rows = await settled(firing.incident_id!, 2);
    expect(rows.map((r) => [r.action, r.state])).toEqual([
      ['trigger', 'delivered'],
      ['resolve', 'delivered'],
    ]);
    expect(vendors.at('/hook-backoff').map((r) => [r.status, (r.body as { type: string }).type])).toEqual([
      [500, 'incident.triggered'],
      [204, 'incident.triggered'],
      [204, 'incident.resolved'],
    ]);
  });

  it('pages a condition that fires again after its incident resolved as a new incident', async () => {
    const first = incident(team, 'refire-agent');
    const again = incident(team, 'refire-agent'); // the same dedupe key, a new incident
    expect(again.firing.dedupe_key).toBe(first.firing.dedupe_key);
    await publish(first.firing, first.resolved, again.firing);
    await settled(first.firing.incident_id!, 2);
    expect(await settled(again.firing.incident_id!, 1)).toEqual([
      { action: 'trigger', state: 'delivered', last_status: 202, last_error: null },
    ]);
    expect(vendors.alertState(again.firing.incident_id!, ROUTING_KEY)).toBe('triggered');
  });

  it('delivers an incident of an agent named エージェント-1 to every destination, identifiers free of its name', async () => {
    const { firing, resolved } = incident(team, 'エージェント-1');
    await publish(firing, resolved);
    const rows = await settled(firing.incident_id!, 10);
    // Teams Workflows answers 202 and posts later: accepted, not known to be shown
    expect(rows.filter((r) => r.state !== 'delivered' && r.state !== 'accepted')).toEqual([]);
    for (const path of ['/slack-jp', '/teams-jp', '/hook-jp'])
      expect(vendors.at(path).map((r) => [r.status, r.problems])).toEqual([
        [path === '/slack-jp' ? 200 : path === '/teams-jp' ? 202 : 204, []],
        [path === '/slack-jp' ? 200 : path === '/teams-jp' ? 202 : 204, []],
      ]);
    expect(rows.filter((r) => r.state === 'accepted')).toHaveLength(2);
    for (const r of vendors.at('/hook-jp')) expect(String(r.headers['webhook-id'])).toMatch(/^[\x21-\x7e]+$/);
    expect(JSON.stringify(vendors.at('/slack-jp')[0].body)).toContain('エージェント-1');
    // one email thread: the resolve answers the trigger
    const mails = vendors.mails.filter((m) => m.to === 'oncall-jp@example.com');
    expect(mails).toHaveLength(2);
    expect(mails[1].headers['in-reply-to']).toBe(mails[0].headers['message-id']);
    expect(mails[1].headers['references']).toContain(mails[0].headers['message-id']);
    for (const m of mails) expect(m.headers['auto-submitted']).toBe('auto-generated');
    // the link opens the incident in the console, not an API endpoint that needs a key
    expect(JSON.stringify(vendors.at('/slack-jp')[0].body)).toContain(
      `https://console.burnrate.example/incidents/${firing.incident_id}`,
    );
  });

  it.each([
    ['archived-', '/slack-archived', 'slack_channel_is_archived', 410, /channel_is_archived/],
    ['blocks-', '/slack-blocks', 'slack_invalid_blocks', 400, /invalid_blocks/],
    ['connector-', '/teams-connector', 'teams_connector_failed', 200, /Webhook message delivery failed/],
    ['redirect-', '/hook-redirect', 'webhook_redirect', 307, /redirect/i],
  ] as const)(
    'records a %s destination answering %s as failed, at once',
    async (prefix, path, preset, status, why) => {
      vendors.fail(path, preset, 1);
      const { firing } = incident(team, `${prefix}agent`);
      await publish(firing);
      const [row] = await settled(firing.incident_id!, 1);
      expect(row).toMatchObject({ action: 'trigger', state: 'failed', last_status: status });
      expect(row.last_error).toMatch(why);
      expect(vendors.at(path)).toHaveLength(1);
    },
  );

  it('retries a PagerDuty 429 after its Retry-After and delivers once', async () => {
    vendors.fail('/pagerduty', 'pagerduty_rate_limited', 1);
    const { firing } = incident(team, 'pdlimit-agent');
    await publish(firing);
    expect(await settled(firing.incident_id!, 1)).toEqual([
      { action: 'trigger', state: 'delivered', last_status: 202, last_error: null },
    ]);
    const sent = vendors.at('/pagerduty').filter((r) => r.body.dedup_key === firing.incident_id);
    expect(sent.map((r) => r.status)).toEqual([429, 202]);
  });

  it('disables a webhook that answers 410 Gone, and says so in the route listing', async () => {
    vendors.fail('/hook-gone', 'webhook_gone', 1);
    const { firing } = incident(team, 'gone-agent');
    await publish(firing);
    const [row] = await settled(firing.incident_id!, 1);
    expect(row).toMatchObject({ state: 'failed', last_status: 410 });
    // (the listing masks the URL: the route is found by its id)
    const listed = await until(
      'destination disabled',
      async () => (await routes.list(team)).find((r) => r.id === routeIds.get('gone-'))!.destinations[0],
      (d) => d.disabled !== undefined,
    );
    expect(listed.disabled?.reason).toMatch(/410/);
    // the next incident of that agent sends it nothing (at once, whatever the routing caches still hold)
    const next = incident(team, 'gone-agent');
    await publish(next.firing);
    const rows = await settled(next.firing.incident_id!, 1);
    expect(rows[0]).toMatchObject({ state: 'suppressed' });
    expect(rows[0].last_error).toMatch(/^destination disabled: .*410/);
    expect(vendors.at('/hook-gone')).toHaveLength(1);
  });

  it('fails an email refused with 550 at once, and retries one refused with 450 until it is taken', async () => {
    vendors.smtpReject('nobody@example.com', 550);
    vendors.smtpReject('busy@example.com', 450, 1);
    const bad = incident(team, 'mailbad-agent');
    const busy = incident(team, 'mailbusy-agent');
    await publish(bad.firing, busy.firing);
    const [refused] = await settled(bad.firing.incident_id!, 1);
    expect(refused.state).toBe('failed');
    expect(refused.last_error).toMatch(/550/);
    const [taken] = await settled(busy.firing.incident_id!, 1);
    expect(taken.state).toBe('delivered');
    expect(vendors.mails.filter((m) => m.to === 'busy@example.com')).toHaveLength(1);
  });
});
