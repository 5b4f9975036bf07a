import type { Pool } from 'pg';
import { topicsIn, type RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, DLQ_HEADERS, provisionTopics } from '@libs/kafka';
import { FakeVendors } from './support/fake-vendors';
import { postAnnouncing } from './support/http';
import { pricedRun, runEvent } from './support/fixtures';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { storedBeside } from './support/stored';
import { readTopic, testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const config = testConfig();
const ns = `t${uid()}`;
const T = topicsIn(ns);
const DAY = 86_400_000;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const STRING_FIELDS = [
  'run_id',
  'agent_id',
  'model',
  'provider',
  'customer_id',
  'feature',
  'cost_centre',
  'session_id',
  'tool',
  'parent_run_id',
] as const;
const BAD_TEXT = ['a\u0000b', 'a\u0007b', 'a\u007fb', 'a\u0085b', 'a\ud800b', 'b\udc00'];

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
  ms: number;
}

/**
 * One team attacks the shared pipeline with everything a hostile tenant can send — over HTTP and straight onto Kafka,
 * runs, settings, routes, keys and queries — while a second team sends its ordinary day and one threshold-crossing
 * model swap. The second team must not notice: every run stored and counted, its page delivered, no service restarted,
 * no partition stuck; and every hostile input answered with an error or dead-lettered with its reason.
 */
describe('a hostile tenant beside a normal one (every service a process, the real stack)', () => {
  const vendors = new FakeVendors(SECRET);
  const services = new Map<string, ServiceProcess>();
  const good = `good-${ns}`;
  const evil = `evil-${ns}`;
  let pool: Pool;
  let goodKey: string;
  let evilKey: string;
  let adminKey: string;
  let adminKeyId: string;

  beforeAll(async () => {
    await vendors.start();
    pool = createPool(await migrated(), 2);
    const admin = testKafka(config).admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(T));
    await admin.disconnect();
    goodKey = (await createKey(good)).key;
    evilKey = (await createKey(evil)).key;
    ({ key: adminKey, id: adminKeyId } = await createKey(`admin-${ns}`, 'admin'));
  });

  afterAll(async () => {
    await Promise.all([...services.values()].map((s) => s.stop()));
    await pool?.end();
    await vendors.stop();
  });

  async function call(
    service: string,
    method: string,
    path: string,
    key: string,
    body?: unknown,
    raw?: string,
  ): Promise<Answer> {
    const started = Date.now();
    const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const res = await fetch(`${services.get(service)!.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: payload,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, headers: res.headers, body: parsed, ms: Date.now() - started };
  }

  const iso = (r: RunEvent) => ({
    ...r,
    team: undefined,
    started_at: new Date(r.started_at).toISOString(),
    finished_at: new Date(r.finished_at).toISOString(),
  });

  it('costs the attacker errors and dead letters, and the other team nothing', async () => {
    const vendorHost = new URL(vendors.url('/')).host;
    const env = {
      BURNRATE_TOPIC_NAMESPACE: ns,
      INSTANCE_ID: ns,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      KAFKA_LAG_INTERVAL_MS: '1000',
      KAFKA_RETRY_MAX_BACKOFF_MS: '1000',
      RETRY_WEBHOOK: '200ms,5s,1h',
      POLL_MS: '100',
      SETTINGS_POLL_MS: '500',
      ALERT_DESTINATION_ALLOWLIST: vendorHost,
      RATE_LIMIT_PER_S: '50',
      RATE_LIMIT_BURST: '100',
      DB_STATEMENT_TIMEOUT_S: '5',
    };
    const ports: Record<string, number> = {
      ingestion: 18601,
      pricing: 18602,
      aggregator: 18603,
      detector: 18604,
      'alert-router': 18605,
      recorder: 18606,
      api: 18607,
    };
    const start = async (name: string) =>
      services.set(name, await startService(name, ports[name], { ...env, CONSUMER_GROUP: `${name}-${ns}` }));
    // The good team's route first, through the api: the alert-router reads routes when it starts (and every 5 s).
    await start('api');
    const route = await call('api', 'POST', '/v1/routes', goodKey, {
      team: good,
      match: {},
      destinations: [{ type: 'webhook', url: vendors.url('/hook'), secret: SECRET }],
    });
    expect(route.status).toBe(201);
    for (const name of Object.keys(ports)) if (name !== 'api') await start(name);
    const pids = new Map([...services].map(([name, s]) => [name, s.child.pid]));

    // The good team's ordinary traffic: nine days of history for three agents, then a model swap.
    const now = Date.now();
    const today = Math.floor(now / DAY) * DAY;
    const goodRuns: RunEvent[] = [];
    let i = 0;
    const base = (agent: string, finished: number, model = 'claude-haiku-4-5'): RunEvent =>
      runEvent({
        run_id: `${ns}-${agent}-${i++}`,
        agent_id: agent,
        team: good,
        model,
        provider: 'anthropic',
        input_tokens: 3000 + (i % 7) * 100,
        output_tokens: 400 + (i % 5) * 20,
        started_at: finished - 2000,
        finished_at: finished,
        customer_id: 'acme',
        feature: 'triage',
      });
    const goodAgents = ['support-a', 'support-b', 'support-c'];
    for (const agent of goodAgents) {
      for (let day = today - 9 * DAY; day < today; day += DAY)
        for (let k = 0; k < 40; k++) goodRuns.push(base(agent, day + 600_000 + k * 1_800_000));
      for (let k = 0; k < 15; k++)
        goodRuns.push(base(agent, Math.round(today + (k * (now - 3_600_000 - today)) / 15)));
    }
    const swap = Array.from({ length: 40 }, (_, k) =>
      base('support-a', now - 120_000 + k * 2000, 'claude-opus-4-1'),
    );

    const postGood = async (batch: RunEvent[]) => {
      const res = await call('ingestion', 'POST', '/v1/runs', goodKey, batch.map(iso));
      expect(res.status).toBe(202);
    };

    // ------------------------------------------------------------------ hostile runs over HTTP, between good batches
    const victimKey = `${good}/support-a`;
    const evilBase = (over: Partial<RunEvent> = {}) =>
      runEvent({
        run_id: `${ns}-evil-${i++}`,
        agent_id: 'evil-agent',
        model: 'gpt-4o',
        finished_at: now - 60_000,
        started_at: now - 61_000,
        ...over,
      });
    const refused: { name: string; run: Record<string, unknown>; field: RegExp }[] = [];
    for (const field of STRING_FIELDS)
      for (const bad of BAD_TEXT)
        refused.push({
          name: `${field}=${JSON.stringify(bad)}`,
          run: { ...iso(evilBase()), [field]: bad },
          field: new RegExp(`^${field}$`),
        });
    for (const tags of [{ 'a\u0000': 'x' }, { env: 'v\u0000' }, { env: 'v\ud800' }])
      refused.push({
        name: `tags ${JSON.stringify(tags)}`,
        run: { ...iso(evilBase()), tags },
        field: /^tags/,
      });
    for (const [field, value] of [
      ['input_tokens', 100_000_001],
      ['input_tokens', -1],
      ['input_tokens', 1.5],
      ['input_tokens', '12'],
      ['output_tokens', 1e308],
      ['finished_at', '1970-01-01T00:00:00Z'],
      ['finished_at', '9999-12-31T00:00:00Z'],
    ] as const)
      refused.push({
        name: `${field}=${value}`,
        run: { ...iso(evilBase()), [field]: value },
        field: new RegExp(`^${field}$`),
      });

    // Accepted, and harmless: the names JavaScript objects carry, and a call tree that is a cycle.
    const tricky = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'prototype'].map((name) =>
      iso(
        evilBase({
          agent_id: name,
          session_id: name,
          parent_run_id: name,
          customer_id: name,
          feature: name,
          tool: name,
        }),
      ),
    );
    const cycle = [now - 50_000, now - 40_000].map((t) =>
      iso(
        evilBase({
          run_id: `${ns}-cycle`,
          parent_run_id: `${ns}-cycle`,
          finished_at: t,
          started_at: t - 1000,
        }),
      ),
    );
    const unpriced = iso(evilBase({ model: `evil-secret-model-${ns}` }));

    const half = Math.floor(goodRuns.length / 2);
    for (let k = 0; k < half; k += 100) await postGood(goodRuns.slice(k, Math.min(k + 100, half)));

    const answer = await call('ingestion', 'POST', '/v1/runs', evilKey, [
      ...refused.map((r) => r.run),
      ...tricky,
      ...cycle,
      unpriced,
    ]);
    expect(answer.status).toBe(202); // some accepted: per-run results
    const results = (
      answer.body as { results: { index: number; status: string; errors?: { field: string }[] }[] }
    ).results;
    refused.forEach((r, index) => {
      const result = results[index];
      expect({ name: r.name, status: result.status }).toEqual({ name: r.name, status: 'rejected' });
      expect({ name: r.name, fields: result.errors!.some((e) => r.field.test(e.field)) }).toEqual({
        name: r.name,
        fields: true,
      });
    });
    expect(results.slice(refused.length).map((r) => r.status)).toEqual(
      [...tricky, ...cycle, unpriced].map(() => 'accepted'),
    );
    // `__proto__` as a tag key, written as JSON text (an object literal cannot hold it as an own key)
    const protoTag = await call(
      'ingestion',
      'POST',
      '/v1/runs',
      evilKey,
      undefined,
      JSON.stringify([iso(evilBase())]).replace('"tags":{}', '"tags":{"__proto__":{"polluted":"yes"}}'),
    );
    expect(protoTag.status).toBe(400);
    // bodies past the limit, and bodies that are not JSON
    const huge = await postAnnouncing(`${services.get('ingestion')!.url}/v1/runs`, auth(evilKey), 64 << 20);
    expect(huge.status).toBe(413);
    expect((await call('ingestion', 'POST', '/v1/runs', evilKey, undefined, '{"run_id": ')).status).toBe(400);

    // ------------------------------------------------------------ hostile records straight onto Kafka, keyed to land
    // in the victim's partition: a run with a NUL (pricing rejects it), bytes that are not Avro (dead letter), and a
    // priced run with a NUL, as a producer that skipped pricing would write it (PostgreSQL refuses it: dead letter).
    const kafka = testKafka(config);
    const serde = await AvroSerde.create(config, [T.runsRaw, T.runsPriced, T.runsRejected]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    const nulOnKafka = evilBase({ team: evil, feature: 'kafka\u0000nul', run_id: `${ns}-kafka-nul` });
    const nulPriced = pricedRun(
      evilBase({ team: evil, feature: 'priced\u0000nul', run_id: `${ns}-priced-nul` }),
      1000,
    );
    await producer.send([
      {
        topic: T.runsRaw.name,
        key: victimKey,
        value: serde.encode(T.runsRaw, { ...nulOnKafka, source: 'kafka' }),
      },
      { topic: T.runsRaw.name, key: victimKey, value: Buffer.from('{"run_id":"not avro"}') },
      { topic: T.runsPriced.name, key: victimKey, value: serde.encode(T.runsPriced, nulPriced) },
    ]);
    await producer.disconnect();

    for (let k = half; k < goodRuns.length; k += 100)
      await postGood(goodRuns.slice(k, Math.min(k + 100, goodRuns.length)));
    await postGood(swap);
    await postGood(swap.slice(0, 10)); // a client retrying a batch it thought lost

    // ---------------------------------------------------------------------- settings, routes, keys, queries
    const settingsCases: [string, string][] = [
      ['timezone as a list', '{"timezone": ["Europe/London"]}'],
      ['an unknown time zone', '{"timezone": "Mars/Olympus"}'],
      ['a prototype key', '{"__proto__": {"polluted": "yes"}}'],
      ['a constructor key', '{"constructor": {"prototype": {"polluted": "yes"}}}'],
      ['baseline days past the engine', '{"zscore": {"baseline_days": 1000000}}'],
      ['a NUL in a string', '{"timezone": "Europe/Lon\\u0000don"}'],
    ];
    for (const [name, raw] of settingsCases) {
      const res = await call('api', 'PUT', `/v1/teams/${evil}/settings`, evilKey, undefined, raw);
      expect({ name, status: res.status }).toEqual({ name, status: 400 });
    }
    expect(
      (await call('api', 'PUT', `/v1/teams/${good}/settings`, evilKey, { timezone: 'UTC' })).status,
    ).toBe(403);

    const hook = (url: string) => ({
      team: evil,
      match: {},
      destinations: [{ type: 'webhook', url, secret: SECRET }],
    });
    for (const url of [
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      'http://127.0.0.1:5432/',
      'http://localhost:8080/v1/api-keys',
      'http://[::1]:8080/',
      'http://0x7f000001/',
      'http://2130706433/',
      'http://10.0.0.1/',
      'http://kubernetes.default.svc.cluster.local/',
    ]) {
      const res = await call('api', 'POST', '/v1/routes', evilKey, hook(url));
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
    }
    const tooMany = {
      team: evil,
      match: {},
      destinations: Array.from({ length: 50 }, () => ({
        type: 'webhook',
        url: vendors.url('/evil'),
        secret: SECRET,
      })),
    };
    expect((await call('api', 'POST', '/v1/routes', evilKey, tooMany)).status).toBe(400);
    const backtracking = await call('api', 'POST', '/v1/routes', evilKey, {
      ...hook(vendors.url('/evil')),
      match: { agent_id: '*a*a*a*a*a*a*a*a*b' },
    });
    expect([201, 400]).toContain(backtracking.status);
    expect(backtracking.ms).toBeLessThan(2000);
    const evilAgent = iso(evilBase({ agent_id: 'a'.repeat(80) }));
    expect((await call('ingestion', 'POST', '/v1/runs', evilKey, [evilAgent])).status).toBe(202);

    const keys = await call('api', 'GET', '/v1/api-keys', evilKey);
    expect(keys.status).toBe(200);
    expect(JSON.stringify(keys.body)).not.toContain('"admin"');
    expect(JSON.stringify(keys.body)).not.toContain(good);
    expect([403, 404]).toContain((await call('api', 'DELETE', `/v1/api-keys/${adminKeyId}`, evilKey)).status);
    expect((await call('api', 'GET', '/v1/api-keys', adminKey)).status).toBe(200);

    expect(
      (await call('api', 'GET', '/v1/spend?group_by=agent&bucket=day&from=2000-01-01&to=2100-01-01', evilKey))
        .status,
    ).toBe(400);
    expect(
      (await call('api', 'GET', `/v1/spend?group_by=agent&bucket=day&team=${good}`, evilKey)).status,
    ).toBe(403);

    // ------------------------------------------------------------------------------- what the good team sees
    const all = [...goodRuns, ...swap];
    const { stored, expected } = await storedBeside(pool, good, all);
    expect(stored).toEqual(expected);
    for (const agent of goodAgents) {
      const todays = all.filter((r) => r.agent_id === agent && r.finished_at >= today).length;
      await until(
        `agent stats of ${agent}`,
        async () =>
          (
            await pool.query<{ runs: string }>(
              'select runs from agent_stats where team = $1 and agent_id = $2 and day_start = $3',
              [good, agent, new Date(today).toISOString()],
            )
          ).rows[0],
        (r) => r !== undefined && Number(r.runs) === todays,
      );
    }
    // The swap pages on its cost per run or on the day's spend, whichever record crosses first (the z-score floor is
    // at most 2% of this small team's daily spend, a few cents): either is the page, and its incident is the swap's.
    const swapRules = ['cost_per_run_jump', 'spend_zscore'];
    const page = await until(
      'the good team’s page for the swap',
      () =>
        vendors.at('/hook').filter((r) => {
          const data = r.body.data as { agent_id?: string; rule?: string } | undefined;
          return data?.agent_id === 'support-a' && swapRules.includes(data.rule ?? '');
        }),
      (a) => a.length > 0,
    );
    expect(page[0].problems).toEqual([]);
    expect(page[0].body).toMatchObject({
      data: { team: good, rule: expect.stringMatching(/^(cost_per_run_jump|spend_zscore)$/) },
    });
    expect(vendors.at('/evil')).toEqual([]);
    // The route's webhook URL and signing secret, and the outbox's copy of them, are sealed in PostgreSQL.
    const atRest = await pool.query<{ text: string }>(
      `select destinations::text as text from alert_routes where team = $1
       union all select destination::text from alert_outbox where anomaly->>'team' = $1`,
      [good],
    );
    expect(atRest.rows.length).toBeGreaterThan(1);
    for (const { text } of atRest.rows) {
      expect(text).not.toContain(vendors.url('/hook'));
      expect(text).not.toContain(SECRET);
      expect(text).toContain('enc:v1:');
    }

    // The attacker's queries: the cycle answers at once, truncated; its unpriced model is its own.
    const tree = await call('api', 'GET', `/v1/runs/${ns}-cycle/tree`, evilKey);
    expect(tree.status).toBe(200);
    expect(tree.ms).toBeLessThan(5000);
    expect(tree.body).toMatchObject({ truncated: true });
    await until(
      'the attacker’s unpriced model listed for it',
      async () => JSON.stringify((await call('api', 'GET', '/v1/models/unpriced', evilKey)).body),
      (s) => s.includes(`evil-secret-model-${ns}`),
    );
    expect(JSON.stringify((await call('api', 'GET', '/v1/models/unpriced', goodKey)).body)).not.toContain(
      'evil-secret-model',
    );

    // --------------------------------------------------------- every hostile Kafka record answered with its reason
    const rejected = await readTopic<{ run_id: string | null; errors: { field: string }[] }>(
      kafka,
      T.runsRejected,
      {
        expected: 1,
        serde,
        settleMs: 2000,
      },
    );
    const kafkaNul = rejected.find((r) => r.value.run_id === `${ns}-kafka-nul`);
    expect(kafkaNul?.value.errors.map((e) => e.field)).toContain('feature');
    const dead = await until(
      'both dead letters',
      async () =>
        (await readTopic<Buffer>(kafka, T.deadLetter, { expected: 1, settleMs: 1000 })).filter((d) =>
          ([T.runsRaw.name, T.runsPriced.name] as string[]).includes(
            d.headers[DLQ_HEADERS.topic]?.toString() ?? '',
          ),
        ),
      (d) => d.length >= 2,
    );
    const reasons = dead.map((d) => `${d.headers[DLQ_HEADERS.topic]}: ${d.headers[DLQ_HEADERS.reason]}`);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${T.runsRaw.name}: undecodable`)),
        expect.stringMatching(
          new RegExp(`^${T.runsPriced.name}: failed \\d+ times: .*(0x00|invalid byte|null character)`, 'i'),
        ),
      ]),
    );

    // ---------------------------------------------------- the rate limit is per key: the attacker's, not theirs
    const burst = await Promise.all(
      Array.from({ length: 300 }, () => call('api', 'GET', '/v1/anomalies', evilKey)),
    );
    const limited = burst.filter((b) => b.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(burst.every((b) => b.status === 200 || b.status === 429)).toBe(true);
    expect((await call('api', 'GET', '/v1/anomalies', goodKey)).status).toBe(200);

    // ------------------------------------------------------------ no service restarted, no partition stuck
    for (const [name, s] of services) {
      expect({ name, exit: s.child.exitCode, pid: s.child.pid }).toEqual({
        name,
        exit: null,
        pid: pids.get(name),
      });
      expect({ name, health: (await fetch(`${s.url}/healthz`)).status }).toEqual({ name, health: 200 });
    }
    for (const name of ['pricing', 'aggregator', 'detector', 'alert-router', 'recorder']) {
      await until(
        `${name}: no lag, nothing stalled`,
        async () => {
          const text = await (await fetch(`${services.get(name)!.url}/metrics`)).text();
          const samples = text
            .split('\n')
            .filter(
              (l) => /^burnrate_kafka_(consumer_lag|partition_stalled_seconds)\{/.test(l) && l.includes(ns),
            );
          return {
            samples: samples.length,
            nonzero: samples.filter((l) => Number(l.split(' ').pop()) !== 0),
          };
        },
        (m) => m.samples > 0 && m.nonzero.length === 0,
        60_000,
      );
    }
  }, 400_000);
});
