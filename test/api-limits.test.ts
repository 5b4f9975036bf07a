import type { Pool } from 'pg';
import { createPool } from '@libs/db';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { uid } from './support/stack';

const API_PORT = 18480;
const INGESTION_PORT = 18481;
const T0 = Date.UTC(2026, 5, 9, 12);

interface StoredRun {
  run_id: string;
  parent_run_id?: string;
  agent_id?: string;
  finished_at?: number;
  cost?: number;
}

/** Rows straight into `runs`, as the recorder stores them: one row per (team, run_id, finished_at). */
async function insertRuns(pool: Pool, team: string, runs: StoredRun[]): Promise<void> {
  for (const r of runs) {
    const finished = new Date(r.finished_at ?? T0).toISOString();
    await pool.query(
      `insert into runs (run_id, finished_at, started_at, team, agent_id, model, provider, status, parent_run_id,
         uncached_input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, input_cost_nanos,
         cache_read_cost_nanos, cache_write_cost_nanos, output_cost_nanos, total_cost_nanos, currency, price_status,
         priced_at)
       values ($1, $2, $2, $3, $4, 'gpt-4o', 'openai', 'success', $5, 1000, 0, 0, 100, $6, 0, 0, 0, $6, 'USD', 'priced', $2)`,
      [r.run_id, finished, team, r.agent_id ?? 'agent', r.parent_run_id ?? null, r.cost ?? 1_000_000],
    );
  }
}

interface Tree {
  run_id: string;
  rolled_up_cost: { amount: string };
  children: Tree[];
  truncated?: boolean;
}

describe('api limits: statement timeout, cycle-safe call trees, bounded ranges, rate limits (own processes)', () => {
  let api: ServiceProcess;
  let pool: Pool;
  let team: string;
  let key: string;

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    team = `lim-${uid()}`;
    key = (await createKey(team)).key;
    await insertRuns(pool, team, [
      // the reproduced bug: one run_id stored twice, each row naming the run itself as its parent
      { run_id: `loop-${team}`, parent_run_id: `loop-${team}` },
      { run_id: `loop-${team}`, parent_run_id: `loop-${team}`, finished_at: T0 + 1000 },
      // two runs naming each other
      { run_id: `ca-${team}`, parent_run_id: `cb-${team}` },
      { run_id: `cb-${team}`, parent_run_id: `ca-${team}` },
      // a child stored twice (a redelivery with another finished_at) counts once
      { run_id: `dup-${team}`, cost: 0 },
      { run_id: `dupc-${team}`, parent_run_id: `dup-${team}`, cost: 20_000_000 },
      { run_id: `dupc-${team}`, parent_run_id: `dup-${team}`, cost: 20_000_000, finished_at: T0 + 1000 },
      { run_id: `dupg-${team}`, parent_run_id: `dupc-${team}`, cost: 5_000_000 },
      // wider than API_TREE_MAX_NODES below
      { run_id: `wide-${team}` },
      ...Array.from({ length: 10 }, (_, i) => ({
        run_id: `wide-${i}-${team}`,
        parent_run_id: `wide-${team}`,
      })),
    ]);
    api = await startService('api', API_PORT, {
      DB_STATEMENT_TIMEOUT_S: '1',
      API_TREE_MAX_NODES: '6',
      RATE_LIMIT_PER_S: '1',
      RATE_LIMIT_BURST: '40',
      RATE_LIMIT_UNAUTHENTICATED_PER_S: '1',
      RATE_LIMIT_UNAUTHENTICATED_BURST: '3',
      // the ingress is in 10/8: this test's client on loopback is not a proxy, so its X-Forwarded-For is not believed
      TRUST_PROXY: '10.0.0.0/8',
    });
  });

  afterAll(async () => {
    await api?.stop();
    await pool?.end();
  });

  const get = async (path: string, bearer: string | null = key, forwardedFor?: string) => {
    const res = await fetch(`${api.url}${path}`, {
      headers: {
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
      },
    });
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: (await res.json()) as Record<string, unknown>,
    };
  };

  describe('GET /v1/runs/{id}/tree', () => {
    it('answers at once for a run stored twice as its own parent, visiting it once and saying truncated', async () => {
      const started = Date.now();
      const { status, body } = await get(`/v1/runs/loop-${team}/tree`);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        run_id: `loop-${team}`,
        children: [],
        truncated: true,
        rolled_up_cost: { amount: '0.001' },
      });
    });

    it('follows a cycle of two runs once', async () => {
      const { status, body } = await get(`/v1/runs/ca-${team}/tree`);
      expect(status).toBe(200);
      expect(body).toMatchObject({
        run_id: `ca-${team}`,
        children: [{ run_id: `cb-${team}`, children: [] }],
        truncated: true,
      });
    });

    it('shows a run stored twice once, and rolls its cost up once', async () => {
      const { status, body } = await get(`/v1/runs/dup-${team}/tree`);
      expect(status).toBe(200);
      expect(body).toEqual({
        run_id: `dup-${team}`,
        agent_id: 'agent',
        model: 'gpt-4o',
        status: 'success',
        cost: { amount: '0', currency: 'USD' },
        rolled_up_cost: { amount: '0.025', currency: 'USD' },
        children: [
          expect.objectContaining({
            run_id: `dupc-${team}`,
            rolled_up_cost: { amount: '0.025', currency: 'USD' },
            children: [expect.objectContaining({ run_id: `dupg-${team}`, children: [] })],
          }),
        ],
        truncated: false,
      });
    });

    it('stops at API_TREE_MAX_NODES and says truncated', async () => {
      const { status, body } = await get(`/v1/runs/wide-${team}/tree`);
      expect(status).toBe(200);
      const tree = body as unknown as Tree;
      expect(tree.truncated).toBe(true);
      expect(tree.children).toHaveLength(5);
      expect(new Set(tree.children.map((c) => c.run_id)).size).toBe(5);
    });
  });

  describe('time ranges and limits', () => {
    const overMax = 'from=2024-01-01&to=2026-01-01';
    it.each([
      `/v1/spend?group_by=agent&${overMax}`,
      `/v1/spend/top-customers?${overMax}`,
      `/v1/spend/unattributed?${overMax}`,
      `/v1/sessions/stats?agent_id=chat&${overMax}`,
      `/v1/anomalies?${overMax}`,
      `/v1/agent-stats?${overMax}`,
      `/v1/alert-deliveries?${overMax}`,
    ])('answers 400 naming `from` for more than API_MAX_RANGE_DAYS (400): %s', async (path) => {
      const { status, body } = await get(path);
      expect(status).toBe(400);
      expect(body.error).toMatchObject({
        code: 'bad_request',
        message: expect.stringMatching(/at most 400 days/),
        details: { parameter: 'from', max_days: 400 },
      });
    });

    it('accepts exactly 400 days, and refuses an empty or reversed range', async () => {
      expect((await get('/v1/anomalies?from=2025-01-01&to=2026-02-05')).status).toBe(200);
      for (const path of [
        '/v1/anomalies?from=2026-01-02&to=2026-01-01',
        '/v1/agent-stats?from=2026-01-01&to=2026-01-01',
        '/v1/spend/unattributed?from=2026-01-02&to=2026-01-01',
      ]) {
        const { status, body } = await get(path);
        expect([path, status, body.error]).toEqual([
          path,
          400,
          expect.objectContaining({ details: { parameter: 'from' } }),
        ]);
      }
    });

    it.each([
      ['/v1/anomalies?limit=100000', 'limit'],
      ['/v1/alert-deliveries?limit=0', 'limit'],
      ['/v1/agent-stats?limit=1.5', 'limit'],
      ['/v1/spend/top-customers?limit=501', 'limit'],
    ])('answers 400 naming the parameter for %s', async (path, parameter) => {
      const { status, body } = await get(path);
      expect(status).toBe(400);
      expect(body.error).toMatchObject({ details: { parameter } });
    });
  });

  describe('statement timeout', () => {
    it('answers 503 when PostgreSQL cancels a query of the api at DB_STATEMENT_TIMEOUT_S', async () => {
      // A query made slow for certain: alert_deliveries is locked, so the api's read waits until its timeout.
      const locker = await pool.connect();
      let answer: Awaited<ReturnType<typeof get>>;
      const started = Date.now();
      try {
        await locker.query('begin');
        await locker.query("set local lock_timeout = '5s'");
        await locker.query('lock table alert_deliveries in access exclusive mode');
        answer = await get('/v1/alert-deliveries?limit=1');
      } finally {
        await locker.query('rollback');
        locker.release();
      }
      expect(Date.now() - started).toBeLessThan(6000);
      expect(answer.status).toBe(503);
      expect(answer.body).toEqual({
        error: {
          code: 'query_timeout',
          message: expect.stringMatching(/took too long/),
          details: null,
        },
      });
      expect((await get('/v1/alert-deliveries?limit=1')).status).toBe(200);
    });

    it('gives every pool a statement timeout: 30 s by default, or the one asked for', async () => {
      const url = await migrated();
      const standard = createPool(url, 1);
      const short = createPool(url, { max: 1, statementTimeoutMs: 500 });
      try {
        expect((await standard.query('show statement_timeout')).rows).toEqual([{ statement_timeout: '30s' }]);
        const started = Date.now();
        await expect(short.query('select pg_sleep(3)')).rejects.toMatchObject({ code: '57014' });
        expect(Date.now() - started).toBeLessThan(2500);
      } finally {
        await Promise.all([standard.end(), short.end()]);
      }
    });
  });

  describe('rate limits', () => {
    it('answers 429 with Retry-After once a key has spent its burst, and other keys carry on', async () => {
      const burst = (await createKey(team)).key;
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => get('/v1/anomalies?limit=1', burst)),
      );
      const ok = answers.filter((a) => a.status === 200).length;
      const refused = answers.filter((a) => a.status === 429);
      expect(ok).toBeGreaterThanOrEqual(40);
      expect(ok).toBeLessThanOrEqual(43);
      expect(refused.length).toBe(50 - ok);
      expect(Number(refused[0].retryAfter)).toBeGreaterThanOrEqual(1);
      expect(refused[0].body.error).toMatchObject({
        code: 'too_many_requests',
        details: { limit_per_s: 1, burst: 40 },
      });
      expect((await get('/v1/anomalies?limit=1')).status).toBe(200);
    });

    it('limits the same per key on ingestion', async () => {
      const ingestion = await startService('ingestion', INGESTION_PORT, {
        BURNRATE_TOPIC_NAMESPACE: `lim${uid()}`,
        RATE_LIMIT_PER_S: '1',
        RATE_LIMIT_BURST: '3',
      });
      try {
        // bodies with no valid run: answered 400 once past the guard, so nothing reaches Kafka
        const statuses = await Promise.all(
          Array.from({ length: 6 }, async () => {
            const res = await fetch(`${ingestion.url}/v1/runs`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
              body: '[]',
            });
            return { status: res.status, retryAfter: res.headers.get('retry-after') };
          }),
        );
        const refused = statuses.filter((s) => s.status === 429);
        expect(refused.length).toBeGreaterThanOrEqual(2);
        expect(Number(refused[0].retryAfter)).toBeGreaterThanOrEqual(1);
      } finally {
        await ingestion.stop();
      }
    });

    // Last: it leaves this client address refused for a moment.
    it('refuses an address that keeps failing to authenticate, before looking its keys up', async () => {
      const bad = `br_AAAAAAAA_${'C'.repeat(32)}`;
      // a new X-Forwarded-For each time does not make a new address of a client that is not a trusted proxy
      expect((await get('/v1/anomalies', null, '198.51.100.1')).status).toBe(401);
      expect((await get('/v1/anomalies', bad, '198.51.100.2')).status).toBe(401);
      expect((await get('/v1/anomalies', bad, '198.51.100.3')).status).toBe(401);
      const refused = await get('/v1/anomalies', bad, '198.51.100.4');
      expect(refused.status).toBe(429);
      expect(refused.retryAfter).toBe('1');
      // the whole address waits, valid keys too, until a token is back
      expect((await get('/v1/anomalies?limit=1')).status).toBe(429);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await get('/v1/anomalies?limit=1')).status).toBe(200);
    });
  });
});
