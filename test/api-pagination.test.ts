import type { Pool } from 'pg';
import type { AnomalyRecord } from '@libs/contracts';
import { createPool } from '@libs/db';
import { EventsWriter } from '../services/recorder/src/events.writer';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { uid } from './support/stack';

/**
 * Cursor pagination on every list, against the real api and PostgreSQL: following `next_cursor` (or the Link header)
 * page by page gives every item once, in the list's order, ties included, and the last page says there is no next.
 */
const MINUTE = 60_000;

function anomaly(team: string, n: number, detectedAt: number, incident: string | null): AnomalyRecord {
  return {
    anomaly_id: `an-${n}-${uid()}`,
    dedupe_key: `spend_zscore|${team}|agent-${n}|${detectedAt}`,
    rule: 'spend_zscore',
    severity: 'warning',
    state: 'firing',
    team,
    agent_id: `agent-${n}`,
    window_start: detectedAt - 60 * MINUTE,
    window_end: detectedAt,
    observed: 10,
    threshold: 5,
    baseline_mean: 2,
    baseline_stddev: 1,
    zscore: 8,
    currency: 'USD',
    cost_per_run_before_nanos: null,
    cost_per_run_now_nanos: null,
    top_customers: [],
    top_features: [],
    summary: `anomaly ${n}`,
    started_at: detectedAt,
    detected_at: detectedAt,
    late: false,
    details: {},
    trigger_run_id: null,
    incident_id: incident,
    incident_action: incident ? 'open' : null,
    incident_signals: incident ? 1 : null,
  };
}

describe('cursor pagination (real api, real PostgreSQL)', () => {
  const port = 18390;
  let api: ServiceProcess;
  let pool: Pool;
  let team: string;
  let key: string;

  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    return {
      status: res.status,
      link: res.headers.get('link'),
      body: (await res.json()) as Record<string, unknown>,
    };
  };

  /** Every page of `path` (limit given) by next_cursor or, for array answers, the Link header. */
  async function walk(
    path: string,
    items: (body: unknown) => unknown[],
  ): Promise<{ pages: number; all: unknown[] }> {
    const all: unknown[] = [];
    let next: string | null = path;
    let pages = 0;
    while (next !== null) {
      const res = await get(next);
      expect(res.status).toBe(200);
      pages++;
      all.push(...items(res.body));
      const cursor = Array.isArray(res.body) ? null : (res.body.next_cursor as string | null);
      const link = res.link && /^<([^>]+)>; rel="next"$/.exec(res.link)?.[1];
      if (!Array.isArray(res.body))
        expect(link ? new URL(link, 'http://x').searchParams.get('cursor') : null).toBe(cursor);
      next = link ?? null;
      expect(pages).toBeLessThan(20);
    }
    return { pages, all };
  }

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    team = `page-${uid()}`;
    key = (await createKey(team)).key;
    const now = Date.now() - 10 * MINUTE;
    // seven anomalies, three of them detected in the same millisecond (the cursor must break the tie), five incidents
    const records = [0, 1, 2, 3, 4, 5, 6].map((n) =>
      anomaly(team, n, n < 3 ? now : now - n * MINUTE, n >= 2 ? `inc-${n}-${uid()}` : null),
    );
    await new EventsWriter(pool).anomalies(records);
    api = await startService('api', port);
  });

  afterAll(async () => {
    await api?.stop();
    await pool?.end();
  });

  it('pages anomalies three at a time through every one, newest first, ties once each', async () => {
    const full = (await get('/v1/anomalies?limit=100')).body.anomalies as {
      anomaly_id: string;
      detected_at: string;
    }[];
    expect(full).toHaveLength(7);
    const { pages, all } = await walk(
      '/v1/anomalies?limit=3',
      (b) => (b as { anomalies: unknown[] }).anomalies,
    );
    expect(pages).toBe(3);
    expect(all).toEqual(full);
    const times = full.map((a) => Date.parse(a.detected_at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('pages incidents two at a time', async () => {
    const full = (await get('/v1/incidents?limit=100')).body.incidents as { incident_id: string }[];
    expect(full).toHaveLength(5);
    const { pages, all } = await walk(
      '/v1/incidents?limit=2',
      (b) => (b as { incidents: unknown[] }).incidents,
    );
    expect(pages).toBe(3);
    expect(all).toEqual(full);
  });

  it('pages API keys, routes and agent settings (array answers) by the Link header', async () => {
    for (let i = 0; i < 4; i++) await createKey(team);
    const keys = await walk('/v1/api-keys?limit=2', (b) => b as unknown[]);
    expect(keys.pages).toBe(3);
    expect(new Set(keys.all.map((k) => (k as { id: string }).id)).size).toBe(5);

    const send = (method: string, path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const agent of ['a', 'b', 'c'])
      expect(
        (await send('PUT', `/v1/teams/${team}/agents/${agent}/settings`, { zscore_threshold: 3 })).status,
      ).toBe(200);
    const agents = await walk(`/v1/teams/${team}/agents/settings?limit=2`, (b) => b as unknown[]);
    expect(agents.all.map((a) => (a as { agent_id: string }).agent_id)).toEqual(['a', 'b', 'c']);
    expect(agents.pages).toBe(2);

    for (let i = 0; i < 3; i++)
      expect(
        (
          await send('POST', '/v1/routes', {
            team,
            match: { agent_id: `agent-${i}` },
            destinations: [{ type: 'email', to: [`oncall-${i}@example.com`] }],
          })
        ).status,
      ).toBe(201);
    const mine = (r: unknown) => (r as { team: string | null }).team === team;
    const routes = await walk('/v1/routes?limit=1', (b) => (b as unknown[]).filter(mine));
    expect(routes.all.map((r) => (r as { match: { agent_id: string } }).match.agent_id)).toEqual([
      'agent-0',
      'agent-1',
      'agent-2',
    ]);
  });

  it('refuses a cursor not shaped as one, naming it', async () => {
    const res = await get('/v1/anomalies?cursor=not-a-cursor!');
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { details: { parameter: 'cursor' } } });
  });
});
