import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { topicsIn, type RejectedRun, type RunEvent } from '@libs/contracts';
import { AvroSerde } from '@libs/kafka';
import { postAnnouncing } from './support/http';
import { createKey, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const PORT = 18081;
// Topics of this file's own: the default runs.raw may hold a demo's worth of runs, which the reads below would wade
// through (they read a topic from its start) and could settle before reaching this file's runs.
const NS = `i${uid()}`;
const Topics = topicsIn(NS);

function run(agent: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const finished = new Date(Date.now() - 60_000);
  return {
    run_id: `run-${uid()}`,
    agent_id: agent,
    model: 'claude-sonnet-4-5-20250929',
    input_tokens: 1200,
    output_tokens: 300,
    cache_read_tokens: 800,
    started_at: new Date(finished.getTime() - 4000).toISOString(),
    finished_at: finished.toISOString(),
    status: 'success',
    customer_id: 'acme',
    ...overrides,
  };
}

describe('ingestion service (own process, real Kafka, registry and PostgreSQL)', () => {
  let svc: ServiceProcess;
  let kafka: Kafka;
  let serde: AvroSerde;
  let team: string;
  let key: string;
  const logFile = resolve(__dirname, `../.burnrate/test-logs/ingestion-${PORT}.log`);
  let logOffset = 0;

  beforeAll(async () => {
    team = `team-${uid()}`;
    key = (await createKey(team)).key;
    try {
      logOffset = statSync(logFile).size;
    } catch {
      logOffset = 0;
    }
    svc = await startService('ingestion', PORT, { BURNRATE_TOPIC_NAMESPACE: NS });
    kafka = testKafka(config);
    serde = await AvroSerde.create(config, [Topics.runsRaw, Topics.runsRejected]);
  });

  afterAll(async () => {
    await svc?.stop();
  });

  const post = (body: unknown, auth: string | null = key) =>
    fetch(`${svc.url}/v1/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  async function rawRunsFor(
    agent: string,
    expected: number,
  ): Promise<{ key: string | null; value: RunEvent }[]> {
    const all = await readTopic<RunEvent>(kafka, Topics.runsRaw, { expected: 1, serde, settleMs: 1500 });
    const mine = all.filter((r) => r.value.agent_id === agent);
    if (mine.length < expected) {
      const again = await readTopic<RunEvent>(kafka, Topics.runsRaw, { expected: 1, serde, settleMs: 3000 });
      return again.filter((r) => r.value.agent_id === agent);
    }
    return mine;
  }

  it('puts valid runs on the raw topic keyed by <team>/<agent>, with the team taken from the key', async () => {
    const agent = `agent-${uid()}`;
    const runs = [run(agent), run(agent), run(agent, { team })];
    const res = await post(runs);
    expect(res.status).toBe(202);
    const body = (await res.json()) as { accepted: number; rejected: number };
    expect(body).toMatchObject({ accepted: 3, rejected: 0 });

    const got = await rawRunsFor(agent, 3);
    expect(got.map((g) => g.value.run_id).sort()).toEqual(runs.map((r) => r.run_id).sort());
    for (const g of got) {
      expect(g.key).toBe(`${team}/${agent}`);
      expect(g.value.team).toBe(team);
      expect(g.value.source).toBe('http');
      expect(g.value.cache_read_tokens).toBe(800);
    }
  });

  it('answers malformed runs with every failing field while the valid runs beside them still land', async () => {
    const agent = `agent-${uid()}`;
    const good = run(agent);
    const bad = run(agent, { input_tokens: -5, status: 'ok', finished_at: 'soon', model: undefined });
    const res = await post([good, bad]);
    expect(res.status).toBe(202);
    const body = (await res.json()) as { results: { index: number; status: string; errors?: unknown }[] };
    expect(body.results[0]).toEqual({ index: 0, run_id: good.run_id, status: 'accepted' });
    expect(body.results[1]).toEqual({
      index: 1,
      run_id: bad.run_id,
      status: 'rejected',
      errors: [
        { field: 'model', message: 'is required' },
        { field: 'input_tokens', message: 'must not be negative' },
        {
          field: 'finished_at',
          message: 'must be an ISO-8601 instant with a time zone, e.g. 2026-06-09T09:14:05Z',
        },
        { field: 'status', message: 'must be one of success, error, timeout, cancelled' },
      ],
    });
    expect((await rawRunsFor(agent, 1)).map((g) => g.value.run_id)).toEqual([good.run_id]);

    const rejected = (
      await readTopic<RejectedRun>(kafka, Topics.runsRejected, { expected: 1, serde })
    ).filter((r) => r.value.run_id === bad.run_id);
    expect(rejected).toHaveLength(1);
    expect(rejected[0].value).toMatchObject({
      reason: 'validation_failed',
      source: 'http',
      team,
      agent_id: agent,
    });
    expect(JSON.parse(rejected[0].value.original.toString())).toEqual(bad);

    const allBad = await post(run(agent, { output_tokens: 'lots' }));
    expect(allBad.status).toBe(400);
  });

  it('refuses a missing or unknown key (401) and another team (403), and bodies that are not runs', async () => {
    expect((await post(run('a'), null)).status).toBe(401);
    expect((await post(run('a'), 'br_AAAAAAAA_' + 'B'.repeat(32))).status).toBe(401);
    const forbidden = await post([run('a'), run('a', { team: 'someone-else' })]);
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    const notJson = await post('{nope');
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { message: string } }).error.message).toMatch(/JSON/);
    expect((await post([])).status).toBe(400);
    const tooMany = await post(Array.from({ length: 1001 }, () => run('a')));
    expect(tooMany.status).toBe(413);
  });

  it('refuses a body over 5 MB with 413 in the API error shape', async () => {
    const res = await postAnnouncing(
      `${svc.url}/v1/runs`,
      { authorization: `Bearer ${key}` },
      5 * 1024 * 1024 + 1,
    );
    expect(res.status).toBe(413);
    expect((res.body as { error: { code: string } }).error.code).toBe('payload_too_large');
  });

  it('serves its OpenAPI document at /openapi.json and /docs, and the examples in it are accepted as shown', async () => {
    const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as {
      paths: Record<string, { post?: { requestBody: { content: Record<string, { examples: object }> } } }>;
      components: { securitySchemes: Record<string, unknown> };
    };
    const operation = doc.paths['/v1/runs'].post!;
    const examples = Object.values(operation.requestBody.content['application/json'].examples) as {
      value: unknown;
    }[];
    expect(examples.length).toBeGreaterThanOrEqual(2);
    expect(Object.keys(doc.components.securitySchemes)).toContain('bearer');
    for (const example of examples) {
      const res = await post(example.value);
      const body = (await res.json()) as { rejected: number };
      expect([res.status, body.rejected]).toEqual([202, 0]);
    }
    const ui = await fetch(`${svc.url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toMatch(/swagger/i);
  });

  it('exposes its metrics: runs by outcome, rejections by reason, batch sizes, request and produce latency', async () => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    expect(text).toMatch(
      /^burnrate_runs_ingested_total\{outcome="accepted",burnrate_service="ingestion"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^burnrate_runs_ingested_total\{outcome="rejected",burnrate_service="ingestion"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^burnrate_runs_rejected_total\{reason="input_tokens",burnrate_service="ingestion"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^burnrate_ingest_requests_refused_total\{code="forbidden",burnrate_service="ingestion"\} [1-9]/m,
    );
    expect(text).toMatch(/^burnrate_ingest_batch_runs_count\{burnrate_service="ingestion"\} [1-9]/m);
    expect(text).toMatch(
      /^burnrate_kafka_produce_duration_seconds_count\{burnrate_service="ingestion"\} [1-9]/m,
    );
    expect(text).toMatch(
      /^burnrate_http_request_duration_seconds_count\{(?=[^}]*method="POST")(?=[^}]*route="\/v1\/runs")(?=[^}]*status="202")[^}]*\} [1-9]/m,
    );
  });

  it('a revoked key stops working', async () => {
    const { id, key: k } = await createKey(team);
    expect((await post(run('a'), k)).status).toBe(202);
    execFileSync(process.execPath, [
      '-r',
      '@swc-node/register',
      resolve(__dirname, '../scripts/api-keys.ts'),
      'revoke',
      id,
    ]);
    await new Promise((r) => setTimeout(r, 5500)); // the verified-key cache lives 5 s
    expect((await post(run('a'), k)).status).toBe(401);
  });

  it('answers 503 with Retry-After while the broker is down, and loses nothing it accepted once it is back', async () => {
    const agent = `agent-${uid()}`;
    const before = run(agent);
    expect((await post(before)).status).toBe(202);
    const infra = resolve(__dirname, '../scripts/infra.sh');
    execFileSync('bash', [infra, 'stop-kafka'], { stdio: 'ignore' });
    let down: Response;
    try {
      const startedAt = Date.now();
      down = await post(run(agent));
      expect(Date.now() - startedAt).toBeLessThan(30_000); // answered, not hung
    } finally {
      execFileSync('bash', [infra, 'start-kafka'], { stdio: 'ignore' });
    }
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('5');
    const after = run(agent);
    let status = 0;
    for (let i = 0; i < 30 && status !== 202; i++) {
      status = (await post(after)).status;
      if (status !== 202) await new Promise((r) => setTimeout(r, 1000));
    }
    expect(status).toBe(202);
    const ids = (await rawRunsFor(agent, 2)).map((g) => g.value.run_id);
    expect(ids).toEqual(expect.arrayContaining([before.run_id, after.run_id]));
  });

  it('never writes an API key to its logs', async () => {
    const logs = readFileSync(logFile, 'utf8').slice(logOffset);
    expect(logs).toContain('"service":"ingestion"');
    expect(logs).not.toContain(key.slice(-32)); // the secret part; the short prefix may be shown
  });
});
