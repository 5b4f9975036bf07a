import type { Pool } from 'pg';
import { topicsIn, type PricedRun, type RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { AvroSerde, BatchProducer, provisionTopics } from '@libs/kafka';
import { API_SCHEMAS } from '../services/api/src/body-schemas';
import { RunsWriter } from '../services/recorder/src/runs.writer';
import { pricedRun, runEvent } from './support/fixtures';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { readTopic, testConfig, testKafka, uid } from './support/stack';

const config = testConfig();

interface ApiError {
  code: string;
  message: string;
  details: unknown;
}
const HOUR = 3_600_000;

function priced(team: string, over: Partial<RunEvent>, cost: number): PricedRun {
  return pricedRun(
    runEvent({
      run_id: `r-${uid()}`,
      agent_id: 'support-triage',
      team,
      provider: 'openai',
      customer_id: 'acme',
      feature: 'inbox',
      source: 'http',
      ...over,
    }),
    cost,
  );
}

describe('api service (own process, real PostgreSQL)', () => {
  let api: ServiceProcess;
  let pool: Pool;
  let admin: string;
  let teamA: string;
  let teamB: string;
  let keyA: string;
  let keyB: string;

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    admin = (await createKey('_admin', 'admin')).key;
    teamA = `a-${uid()}`;
    teamB = `b-${uid()}`;
    keyA = (await createKey(teamA)).key;
    keyB = (await createKey(teamB)).key;
    const writer = new RunsWriter(pool);
    const day = Date.UTC(2026, 5, 9);
    await writer.write([
      priced(
        teamA,
        { agent_id: 'support-triage', customer_id: 'acme', finished_at: day + 9 * HOUR },
        118_000_000,
      ),
      priced(
        teamA,
        { agent_id: 'support-triage', customer_id: 'acme', finished_at: day + 10 * HOUR, status: 'error' },
        120_000_000,
      ),
      priced(
        teamA,
        { agent_id: 'research-agent', customer_id: null, finished_at: day + 11 * HOUR },
        1_910_000_000,
      ),
      priced(teamB, { agent_id: 'other', customer_id: 'globex', finished_at: day + 9 * HOUR }, 5_000_000_000),
      // the brief's call tree: lead-enrichment £0.41 = 0.18 + 0.15 + 0.08
      priced(
        teamA,
        { run_id: `lead-${teamA}`, agent_id: 'lead-enrichment', finished_at: day + 12 * HOUR },
        0,
      ),
      priced(
        teamA,
        {
          run_id: `cr-${teamA}`,
          agent_id: 'company-research',
          parent_run_id: `lead-${teamA}`,
          finished_at: day + 12 * HOUR + 1,
        },
        180_000_000,
      ),
      priced(
        teamA,
        {
          run_id: `pr-${teamA}`,
          agent_id: 'person-research',
          parent_run_id: `lead-${teamA}`,
          finished_at: day + 12 * HOUR + 2,
        },
        150_000_000,
      ),
      priced(
        teamA,
        {
          run_id: `su-${teamA}`,
          agent_id: 'summariser',
          parent_run_id: `cr-${teamA}`,
          finished_at: day + 12 * HOUR + 3,
        },
        80_000_000,
      ),
    ]);
    // chat sessions costing 10, 20, 30, 40 and 500 (milli-dollars): median 30, the 500 one an outlier (> 5×)
    await writer.write(
      [10, 20, 30, 40, 500].map((m, k) =>
        priced(
          teamA,
          { agent_id: 'chat', session_id: `s${k}`, finished_at: day - 11 * HOUR + k },
          m * 1_000_000,
        ),
      ),
    );
    api = await startService('api', 18380, { FX_RATES: 'USD:GBP=0.79' });
  });

  afterAll(async () => {
    await api?.stop();
    await pool?.end();
  });

  const get = async (path: string, key: string | null) => {
    const res = await fetch(`${api.url}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const send = async (method: string, path: string, key: string, body: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      body: res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>),
    };
  };
  /** A body as written, for keys JSON.stringify of an object literal cannot produce (__proto__). */
  const sendRaw = async (method: string, path: string, key: string, raw: string) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: raw,
    });
    return { status: res.status, body: (await res.json()) as { error: ApiError } };
  };

  it('breaks spend down by agent for the caller’s team only, with exact amounts and per-run figures', async () => {
    const { status, body } = await get(
      '/v1/spend?group_by=agent&from=2026-06-09&to=2026-06-10&bucket=day',
      keyA,
    );
    expect(status).toBe(200);
    const rows = body.rows as {
      key: string;
      cost: { amount: string };
      runs: number;
      successful_runs: number;
      cost_per_run: { amount: string };
      cost_per_successful_run: { amount: string };
    }[];
    const triage = rows.find((r) => r.key === 'support-triage')!;
    expect(triage).toMatchObject({
      runs: 2,
      successful_runs: 1,
      cost: { amount: '0.238', currency: 'USD' },
      cost_per_run: { amount: '0.119', currency: 'USD' },
      cost_per_successful_run: { amount: '0.238', currency: 'USD' },
    });
    expect(rows.find((r) => r.key === 'other')).toBeUndefined(); // team B's agent
    const byCustomer = await get('/v1/spend?group_by=customer&from=2026-06-09&to=2026-06-10', keyA);
    expect((byCustomer.body.rows as { key: string | null }[]).some((r) => r.key === null)).toBe(true); // unattributed
  });

  it('gives the brief’s table: top customers by agent, a team rollup, and flags on outliers and untagged runs', async () => {
    const { status, body } = await get(
      '/v1/spend/top-customers?from=2026-06-09&to=2026-06-10&flag_factor=5',
      keyA,
    );
    expect(status).toBe(200);
    const rows = body.rows as {
      agent_id: string;
      customer_id: string | null;
      runs: number;
      cost: { amount: string };
      flags: string[];
    }[];
    const research = rows.find((r) => r.agent_id === 'research-agent')!;
    expect(research).toMatchObject({ customer_id: null, runs: 1, cost: { amount: '1.91' } });
    // team A: 2.558 over 7 runs ≈ 0.365 per run; research-agent's 1.91 per run is more than 5× that
    expect(research.flags).toEqual(['high_cost_per_run', 'unattributed']);
    expect(rows.find((r) => r.agent_id === 'support-triage')!.flags).toEqual([]);
    expect(body.teams).toEqual([
      {
        team: teamA,
        runs: 7,
        cost: { amount: '2.558', currency: 'USD' },
        cost_per_run: { amount: '0.365428571', currency: 'USD' },
      },
    ]);
    expect((await get('/v1/spend/top-customers?limit=0', keyA)).status).toBe(400);
  });

  it('reports amounts in a reporting currency at the configured rate, and refuses one without a rate', async () => {
    const gbp = await get('/v1/spend?group_by=agent&from=2026-06-09&to=2026-06-10&currency=GBP', keyA);
    const triage = (gbp.body.rows as { key: string; cost: unknown; cost_per_run: unknown }[]).find(
      (r) => r.key === 'support-triage',
    )!;
    // 0.238 USD × 0.79 = 0.18802 GBP; 0.119 × 0.79 = 0.09401
    expect(triage.cost).toEqual({ amount: '0.18802', currency: 'GBP' });
    expect(triage.cost_per_run).toEqual({ amount: '0.09401', currency: 'GBP' });
    const jpy = await get('/v1/spend?group_by=agent&currency=JPY', keyA);
    expect(jpy.status).toBe(400);
    expect((jpy.body.error as { message: string }).message).toMatch(/no exchange rate to JPY/);
  });

  it('lists unattributed spend by agent and an agent’s session cost statistics', async () => {
    const un = await get('/v1/spend/unattributed?from=2026-06-09&to=2026-06-10', keyA);
    expect(un.body.rows).toEqual([
      {
        team: teamA,
        agent_id: 'research-agent',
        runs: 1,
        cost: { amount: '1.91', currency: 'USD' },
        share_of_agent_spend: 1,
      },
    ]);
    const st = await get('/v1/sessions/stats?agent_id=chat&from=2026-06-08&to=2026-06-09', keyA);
    expect(st.body).toMatchObject({
      sessions: 5,
      median: { amount: '0.03' },
      mean: { amount: '0.12' },
      outliers: [{ session_id: 's4', runs: 1, cost: { amount: '0.5' } }],
    });
    expect((await get('/v1/sessions/stats', keyA)).status).toBe(400);
  });

  it('scopes teams: a team key cannot read another team; an admin can', async () => {
    expect((await get(`/v1/spend?group_by=agent&team=${teamB}`, keyA)).status).toBe(403);
    const adminView = await get(
      `/v1/spend?group_by=agent&from=2026-06-09&to=2026-06-10&team=${teamB}`,
      admin,
    );
    expect((adminView.body.rows as { key: string }[]).map((r) => r.key)).toEqual(['other']);
    expect((await get(`/v1/runs/lead-${teamA}/tree`, keyB)).status).toBe(404);
  });

  it('answers bad parameters with a 400 naming the parameter, and an empty range with no rows', async () => {
    const bad = await get('/v1/spend?group_by=planet', keyA);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({
      code: 'bad_request',
      details: { parameter: 'group_by', value: 'planet' },
    });
    expect((await get('/v1/spend?group_by=agent&from=yesterday', keyA)).status).toBe(400);
    expect((await get('/v1/spend?group_by=agent&from=2026-06-10&to=2026-06-09', keyA)).status).toBe(400);
    expect((await get('/v1/spend?group_by=agent&bucket=fortnight', keyA)).status).toBe(400);
    expect((await get('/v1/spend?group_by=agent', null)).status).toBe(401);
    // a NUL in a parameter that would reach PostgreSQL (found by schemathesis: it was a 500), refused as the
    // OpenAPI document says the parameter is: no control characters
    const nul = await get('/v1/sessions/stats?agent_id=a&team=a%00b', admin);
    expect(nul.status).toBe(400);
    expect(nul.body.error).toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(/team must be/),
    });
    const empty = await get('/v1/spend?group_by=agent&from=2021-01-01&to=2021-01-02', keyA);
    expect(empty).toEqual({ status: 200, body: expect.objectContaining({ rows: [] }) });
  });

  it('returns the call tree with child costs rolled up into the parent', async () => {
    const { status, body } = await get(`/v1/runs/lead-${teamA}/tree`, keyA);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      agent_id: 'lead-enrichment',
      rolled_up_cost: { amount: '0.41' },
      children: [
        {
          agent_id: 'company-research',
          cost: { amount: '0.18' },
          rolled_up_cost: { amount: '0.26' },
          children: [{ agent_id: 'summariser', rolled_up_cost: { amount: '0.08' } }],
        },
        { agent_id: 'person-research', rolled_up_cost: { amount: '0.15' } },
      ],
    });
  });

  it('creates, lists (without secrets) and revokes API keys; only admins create', async () => {
    const created = await send('POST', '/v1/api-keys', admin, { team: teamA, name: 'ci', role: 'team' });
    expect(created.status).toBe(201);
    expect(String(created.body.key)).toMatch(/^br_/);
    expect((await send('POST', '/v1/api-keys', keyA, { team: teamA, name: 'x' })).status).toBe(403);
    const invalid = await send('POST', '/v1/api-keys', admin, { team: 'has spaces', role: 'root' });
    expect(invalid.status).toBe(400);
    expect(String((invalid.body.error as { message: string }).message)).toMatch(/team.*name.*role/);
    const list = await get('/v1/api-keys', keyA);
    expect(JSON.stringify(list.body)).not.toContain(String(created.body.key));
    expect((await send('DELETE', `/v1/api-keys/${created.body.id}`, keyA, {})).status).toBe(204);
    await new Promise((r) => setTimeout(r, 5500));
    expect((await get('/v1/spend?group_by=agent', String(created.body.key))).status).toBe(401);
  });

  it('scopes API keys: a team key neither sees nor revokes admin keys or other teams’ keys', async () => {
    const teamAdmin = await send('POST', '/v1/api-keys', admin, { team: teamA, name: 'ops', role: 'admin' });
    const teamBKey = await send('POST', '/v1/api-keys', admin, { team: teamB, name: 'ci' });
    expect([teamAdmin.status, teamBKey.status]).toEqual([201, 201]);
    const listed = (await get('/v1/api-keys', keyA)).body as unknown as {
      id: string;
      role: string;
      team: string;
    }[];
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.every((k) => k.role === 'team' && k.team === teamA)).toBe(true);
    expect(listed.map((k) => k.id)).not.toContain(teamAdmin.body.id);
    expect((await get(`/v1/api-keys?team=${teamB}`, keyA)).status).toBe(403);
    expect((await send('DELETE', `/v1/api-keys/${teamAdmin.body.id}`, keyA, {})).status).toBe(404);
    expect((await send('DELETE', `/v1/api-keys/${teamBKey.body.id}`, keyA, {})).status).toBe(404);
    expect((await send('POST', '/v1/api-keys', keyA, { team: teamA, name: 'x', role: 'admin' })).status).toBe(
      403,
    );
    const adminList = (await get(`/v1/api-keys?team=${teamA}`, admin)).body as unknown as { id: string }[];
    expect(adminList.map((k) => k.id)).toContain(teamAdmin.body.id);
    expect((await get('/v1/spend?group_by=agent', String(teamAdmin.body.key))).status).toBe(200);
    expect((await send('DELETE', `/v1/api-keys/${teamAdmin.body.id}`, admin, {})).status).toBe(204);
  });

  it('creates, lists (secrets masked) and deletes alert routes, each team only its own', async () => {
    const route = {
      team: teamA,
      match: { agent_id: 'research-*' },
      destinations: [{ type: 'slack', webhook_url: 'https://hooks.slack.com/services/T0/B0/SECRETPART' }],
    };
    const created = await send('POST', '/v1/routes', keyA, route);
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain('SECRETPART');
    expect((await send('POST', '/v1/routes', keyB, route)).status).toBe(403);
    const misspelt = await send('POST', '/v1/routes', keyA, { ...route, match: { agent: 'research-*' } });
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.error).toMatchObject({
      details: [{ field: 'match.agent', message: 'is not a known field' }],
    });
    const ftp = await send('POST', '/v1/routes', keyA, {
      ...route,
      destinations: [{ type: 'slack', webhook_url: 'ftp://example.com/x' }],
    });
    expect(ftp.status).toBe(400);
    expect(ftp.body.error).toMatchObject({
      details: [{ field: 'destinations[0].webhook_url', message: expect.stringMatching(/http/) }],
    });
    const listed = await get('/v1/routes', keyA);
    expect(JSON.stringify(listed.body)).toContain(String(created.body.id));
    expect(JSON.stringify(listed.body)).not.toContain('SECRETPART');
    expect((await send('DELETE', `/v1/routes/${created.body.id}`, keyB, {})).status).toBe(404);
    expect((await send('DELETE', '/v1/routes/not-a-uuid', keyA, {})).status).toBe(400);
    expect((await send('DELETE', `/v1/routes/${created.body.id}`, keyA, {})).status).toBe(204);
    expect(JSON.stringify((await get('/v1/routes', keyA)).body)).not.toContain(String(created.body.id));
    expect((await send('DELETE', `/v1/routes/${created.body.id}`, keyA, {})).status).toBe(404);
  });

  it('stores team settings and budgets as DESIGN.md shows them, and refuses bad ones', async () => {
    const body = {
      zscore_threshold: 2.5,
      baseline_days: 14,
      min_history_days: 7,
      timezone: 'Europe/London',
      budgets: [
        { scope: 'team', period: 'day', amount: 50, currency: 'USD' },
        { scope: 'agent', agent_id: 'research-agent', period: 'month', amount: 400, currency: 'USD' },
      ],
    };
    const put = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, body);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      timezone: 'Europe/London',
      budgets: [
        { scope: 'team', period: 'day', amount: { amount: '50', currency: 'USD' } },
        {
          scope: 'agent',
          agent_id: 'research-agent',
          period: 'month',
          amount: { amount: '400', currency: 'USD' },
        },
      ],
    });
    const bad = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, {
      timezone: 'Mars/Olympus',
      baseline_days: 2,
    });
    expect(bad.status).toBe(400);
    expect((await send('PUT', `/v1/teams/${teamB}/settings`, keyA, body)).status).toBe(403);

    // Rule parameters: a partial PUT keeps the rest, null resets one, GET shows every rule in force.
    const tuned = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, {
      rules: { spend_zscore: { min_excess: 0.25 }, cost_per_run_jump: { ratio: 4, enabled: false } },
    });
    expect(tuned.status).toBe(200);
    expect(tuned.body).toMatchObject({
      timezone: 'Europe/London',
      rules: {
        spend_zscore: { min_excess: 0.25, enabled: true },
        cost_per_run_jump: { ratio: 4, enabled: false },
        prompt_creep: { ratio: 1.35, enabled: true },
      },
    });
    const reset = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, {
      rules: { cost_per_run_jump: { ratio: null } },
    });
    expect(reset.body).toMatchObject({
      rules: { spend_zscore: { min_excess: 0.25 }, cost_per_run_jump: { ratio: 3, enabled: false } },
    });
    const wrong = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, {
      rules: { cost_per_run_jump: { ratio: 0.5 }, nonsense: {} },
    });
    expect(wrong.status).toBe(400);
    expect(JSON.stringify(wrong.body)).toContain('rules.cost_per_run_jump.ratio');

    // The late-data grace: set, kept by a PUT that does not name it, reset by null; out of range is a 400 naming it.
    const grace = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, { late_after_minutes: 30 });
    expect(grace.status).toBe(200);
    expect(grace.body).toMatchObject({
      late_after_minutes: 30,
      rules: { spend_zscore: { min_excess: 0.25 } },
    });
    const kept = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, { timezone: 'Europe/London' });
    expect(kept.body).toMatchObject({ late_after_minutes: 30, timezone: 'Europe/London' });
    const tooLong = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, { late_after_minutes: 5000 });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.body)).toContain('late_after_minutes');
    const back = await send('PUT', `/v1/teams/${teamA}/settings`, keyA, { late_after_minutes: null });
    expect(back.body).toMatchObject({ late_after_minutes: 180 });
  });

  it('stores guard rules and budgets that block at 100%, and refuses a bad rule naming its field', async () => {
    const path = `/v1/teams/${teamA}/settings`;
    const rule = {
      id: 'loop-cap',
      action: 'block',
      match: { agent: 'loop-*' },
      limit: { metric: 'runs', amount: 5, window_s: 60 },
    };
    const put = await send('PUT', path, keyA, {
      guard: { rules: [rule] },
      budgets: [{ scope: 'team', period: 'day', amount: 50, currency: 'USD', block_at_100: true }],
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      guard: { rules: [rule] },
      budgets: [{ scope: 'team', block_at_100: true }],
    });
    const kept = await send('PUT', path, keyA, { timezone: 'Europe/London' });
    expect(kept.body).toMatchObject({ guard: { rules: [rule] } });
    const repeated = await send('PUT', path, keyA, { guard: { rules: [rule, rule] } });
    expect(repeated.status).toBe(400);
    expect(JSON.stringify(repeated.body)).toContain('guard.rules[1].id');
    const wide = await send('PUT', path, keyA, {
      guard: { rules: [{ ...rule, limit: { ...rule.limit, window_s: 90_000 } }] },
    });
    expect(wide.status).toBe(400);
    expect(JSON.stringify(wide.body)).toContain('guard.rules[0].limit.window_s');
    expect((await get(path, keyA)).body).toMatchObject({ guard: { rules: [rule] } });
    const cleared = await send('PUT', path, keyA, { guard: { rules: [] }, budgets: [] });
    expect(cleared.body).toMatchObject({ guard: { rules: [] }, budgets: [] });
  });

  it('refuses settings of the wrong type, unknown keys and __proto__, naming the field, and keeps what was stored', async () => {
    const path = `/v1/teams/${teamA}/settings`;
    const good = await send('PUT', path, keyA, { timezone: 'Europe/London', baseline_days: 10 });
    expect(good.status).toBe(200);

    const list = await send('PUT', path, keyA, { timezone: ['Europe/London'] });
    expect(list.status).toBe(400);
    expect(list.body.error).toMatchObject({
      code: 'bad_request',
      details: [{ field: 'timezone', message: expect.stringMatching(/IANA time zone/) }],
    });
    const unknown = await send('PUT', path, keyA, { timezone: 'UTC', colour: 'red' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({
      details: [{ field: 'colour', message: 'is not a known field' }],
    });
    const proto = await sendRaw('PUT', path, keyA, '{"__proto__": {"baseline_days": 3}, "timezone": "UTC"}');
    expect(proto.status).toBe(400);
    expect(proto.body.error.code).toBe('bad_request');
    const ctor = await sendRaw('PUT', path, keyA, '{"constructor": {"name": 1}}');
    expect(ctor.status).toBe(400);
    expect(ctor.body.error.details).toEqual([{ field: 'constructor', message: 'is not a known field' }]);
    const beyondAggregator = await send('PUT', path, keyA, { baseline_days: 30 });
    expect(beyondAggregator.status).toBe(400);
    expect((beyondAggregator.body.error as ApiError).message).toMatch(/baseline_days .*MAX_BASELINE_DAYS/);
    const conflict = await send('PUT', path, keyA, { min_history_days: 12 });
    expect(conflict.status).toBe(400);
    expect(conflict.body.error).toMatchObject({
      details: [{ field: 'min_history_days', message: 'cannot exceed baseline_days (10)' }],
    });
    const twice = { scope: 'team', period: 'day', amount: 5, currency: 'USD' };
    const duplicate = await send('PUT', path, keyA, { budgets: [twice, { ...twice, amount: 6 }] });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error).toMatchObject({ details: [{ field: 'budgets[1]' }] });
    expect(
      (await send('PUT', `/v1/teams/${encodeURIComponent('a\u0000b')}/settings`, admin, {})).status,
    ).toBe(400);

    const stored = await get(path, keyA);
    expect(stored.body).toMatchObject({ timezone: 'Europe/London', baseline_days: 10, min_history_days: 7 });
    const canonical = await send('PUT', path, keyA, { timezone: 'europe/london', min_history_days: 10 });
    expect(canonical.status).toBe(200);
    expect(canonical.body).toMatchObject({
      timezone: 'Europe/London',
      baseline_days: 10,
      min_history_days: 10,
    });
  });

  describe('per-agent settings', () => {
    const agent = 'research-agent';
    const agentPath = () => `/v1/teams/${teamA}/agents/${agent}/settings`;
    /** The team's settings as GET shows them, without budgets: what an agent without overrides has in force. */
    const teamInForce = async () => {
      const {
        budgets: _budgets,
        guard: _guard,
        ...inForce
      } = (await get(`/v1/teams/${teamA}/settings`, keyA)).body;
      return inForce as { baseline_days: number; rules: Record<string, Record<string, unknown>> };
    };

    it('shows the team’s settings in force for an agent that sets nothing', async () => {
      const team = await teamInForce();
      const none = await get(agentPath(), keyA);
      expect(none.status).toBe(200);
      expect(none.body).toEqual({ team: teamA, agent_id: agent, overrides: {}, effective: team });
    });

    it('stores an agent’s overrides over its team’s, resets one with null, and DELETE gives it its team’s again', async () => {
      const team = await teamInForce();
      const put = await send('PUT', agentPath(), keyA, {
        zscore_threshold: 4,
        rules: { cost_per_run_jump: { ratio: 5 }, unpriced_model: { enabled: false } },
      });
      expect(put.status).toBe(200);
      expect(put.body).toEqual({
        team: teamA,
        agent_id: agent,
        overrides: {
          zscore_threshold: 4,
          rules: { cost_per_run_jump: { ratio: 5 }, unpriced_model: { enabled: false } },
        },
        effective: {
          ...team,
          zscore_threshold: 4,
          rules: {
            ...team.rules,
            cost_per_run_jump: { ...team.rules.cost_per_run_jump, ratio: 5 },
            unpriced_model: { enabled: false },
          },
        },
      });
      expect(await get(agentPath(), keyA)).toEqual(put);
      const listed = await get(`/v1/teams/${teamA}/agents/settings?limit=10`, keyA);
      expect(listed.status).toBe(200);
      expect(listed.body).toEqual([
        {
          team: teamA,
          agent_id: agent,
          overrides: put.body.overrides,
          updated_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        },
      ]);

      const own = await send('PUT', agentPath(), keyA, { baseline_days: 3, min_history_days: 3 });
      expect(own.body).toMatchObject({ effective: { baseline_days: 3, min_history_days: 3 } });
      const conflict = await send('PUT', agentPath(), keyA, { min_history_days: 5 });
      expect(conflict.status).toBe(400);
      expect(conflict.body.error).toMatchObject({
        details: [{ field: 'min_history_days', message: 'cannot exceed baseline_days (3)' }],
      });

      const reset = await send('PUT', agentPath(), keyA, {
        zscore_threshold: null,
        baseline_days: null,
        min_history_days: null,
        rules: { cost_per_run_jump: { ratio: null } },
      });
      expect(reset.status).toBe(200);
      expect(reset.body).toEqual({
        team: teamA,
        agent_id: agent,
        overrides: { rules: { unpriced_model: { enabled: false } } },
        effective: { ...team, rules: { ...team.rules, unpriced_model: { enabled: false } } },
      });

      expect((await send('DELETE', agentPath(), keyA, {})).status).toBe(204);
      expect((await get(agentPath(), keyA)).body).toEqual({
        team: teamA,
        agent_id: agent,
        overrides: {},
        effective: team,
      });
      expect((await get(`/v1/teams/${teamA}/agents/settings`, keyA)).body).toEqual([]);
      expect((await send('DELETE', agentPath(), keyA, {})).status).toBe(404);
    });

    it('refuses bad fields, naming each, and a bad agent id or limit, and keeps what was stored', async () => {
      expect((await send('PUT', agentPath(), keyA, { zscore_threshold: 3 })).status).toBe(200);
      const bad = await send('PUT', agentPath(), keyA, {
        zscore_threshold: 'high',
        rules: { cost_per_run_jump: { ratio: 0.5 } },
        timezone: 'UTC',
      });
      expect(bad.status).toBe(400);
      expect((bad.body.error as { details: { field: string }[] }).details.map((d) => d.field)).toEqual([
        'zscore_threshold',
        'rules.cost_per_run_jump.ratio',
        'timezone',
      ]);
      expect(bad.body.error).toMatchObject({
        details: expect.arrayContaining([{ field: 'timezone', message: 'is not a known field' }]),
      });
      const padded = await get(`/v1/teams/${teamA}/agents/${encodeURIComponent(' padded')}/settings`, keyA);
      expect(padded.status).toBe(400);
      expect(padded.body.error).toMatchObject({ details: { parameter: 'agent_id' } });
      const tooMany = await get(`/v1/teams/${teamA}/agents/settings?limit=1001`, keyA);
      expect(tooMany.status).toBe(400);
      expect(tooMany.body.error).toMatchObject({ details: { parameter: 'limit' } });
      expect((await get(agentPath(), keyA)).body).toMatchObject({ overrides: { zscore_threshold: 3 } });
      expect((await send('DELETE', agentPath(), admin, {})).status).toBe(204);
    });

    it('lets another team’s key neither read nor change an agent’s settings; an admin can', async () => {
      expect((await send('PUT', agentPath(), keyA, { zscore_threshold: 3 })).status).toBe(200);
      expect((await send('PUT', agentPath(), keyB, { zscore_threshold: 9 })).status).toBe(403);
      expect((await get(agentPath(), keyB)).status).toBe(403);
      expect((await get(`/v1/teams/${teamA}/agents/settings`, keyB)).status).toBe(403);
      expect((await send('DELETE', agentPath(), keyB, {})).status).toBe(403);
      const byAdmin = await get(agentPath(), admin);
      expect(byAdmin.status).toBe(200);
      expect(byAdmin.body).toMatchObject({ overrides: { zscore_threshold: 3 } });
      expect((await send('DELETE', agentPath(), admin, {})).status).toBe(204);
    });
  });

  it('refuses a body over 64 KiB with 413 in the API error shape', async () => {
    const res = await sendRaw(
      'PUT',
      `/v1/teams/${teamA}/settings`,
      keyA,
      JSON.stringify({ timezone: 'UTC', pad: 'x'.repeat(70 * 1024) }),
    );
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('publishes in /openapi.json the very schemas it enforces, as each operation’s requestBody', async () => {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
      >;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toMatch(/^3\.0\./);
    for (const [name, schema] of Object.entries(API_SCHEMAS))
      expect(doc.components.schemas[name]).toEqual(schema);
    const bodyOf = (path: string, method: string) =>
      doc.paths[path][method].requestBody?.content['application/json'].schema;
    expect(bodyOf('/v1/teams/{team}/settings', 'put')).toEqual({
      $ref: '#/components/schemas/TeamSettingsBody',
    });
    expect(bodyOf('/v1/teams/{team}/agents/{agent_id}/settings', 'put')).toEqual({
      $ref: '#/components/schemas/AgentSettingsBody',
    });
    expect(bodyOf('/v1/api-keys', 'post')).toEqual({ $ref: '#/components/schemas/ApiKeyCreateBody' });
    expect(bodyOf('/v1/routes', 'post')).toEqual({ $ref: '#/components/schemas/RouteCreateBody' });
    expect(bodyOf('/v1/rate-card/overrides/{id}', 'put')).toEqual({
      $ref: '#/components/schemas/RateCardOverrideBody',
    });
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[A-Za-z0-9_.-]+/g) ?? [];
    for (const ref of refs) expect(doc.components.schemas).toHaveProperty([ref.split('/').pop()!]);
  });
});

describe('rate card administration, picked up by a running pricing service', () => {
  const ns = `t${uid()}`;
  const T = topicsIn(ns);
  let api: ServiceProcess;
  let pricing: ServiceProcess;
  let admin: string;

  beforeAll(async () => {
    await migrated();
    admin = (await createKey('_admin', 'admin')).key;
    const kadmin = testKafka(config).admin();
    await kadmin.connect();
    await provisionTopics(kadmin, config, Object.values(T));
    await kadmin.disconnect();
    api = await startService('api', 18381);
    pricing = await startService('pricing', 18382, {
      BURNRATE_TOPIC_NAMESPACE: ns,
      CONSUMER_GROUP: `pricing-${ns}`,
      RATE_CARD_POLL_MS: '500',
    });
  });

  afterAll(async () => {
    await Promise.all([api?.stop(), pricing?.stop()]);
  });

  it('lists an unknown model as unpriced, then prices it by an override without a restart', async () => {
    const kafka = testKafka(config);
    const serde = await AvroSerde.create(config, [T.runsRaw, T.runsPriced]);
    const producer = new BatchProducer(kafka);
    await producer.connect();
    const model = `selfhosted-${uid()}`;
    const raw = (id: string): RunEvent => ({
      ...priced('ops', { run_id: id, model, provider: 'selfhosted', finished_at: Date.now() - 1000 }, 0).run,
      input_tokens: 1_000_000,
      output_tokens: 500_000,
    });
    await producer.send([
      { topic: T.runsRaw.name, key: 'ops/a', value: serde.encode(T.runsRaw, raw(`${ns}-before`)) },
    ]);
    await readTopic(kafka, T.runsPriced, { expected: 1, serde, settleMs: 200 });
    const listed = async () =>
      (await (
        await fetch(`${api.url}/v1/models/unpriced`, { headers: { authorization: `Bearer ${admin}` } })
      ).json()) as { team: string; provider: string; model: string; runs: string }[];

    const put = await fetch(`${api.url}/v1/rate-card/overrides/${model}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify({
        provider: 'selfhosted',
        match: { equals: model },
        input_per_mtok: 0.2,
        output_per_mtok: 0.6,
        note: 'GPU cost',
      }),
    });
    expect(put.status).toBe(200);
    const inForce = await fetch(`${api.url}/v1/rate-card?provider=selfhosted&model=${model}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(((await inForce.json()) as { rows: { id: string }[] }).rows[0].id).toBe(`override:${model}`);

    await new Promise((r) => setTimeout(r, 1500)); // > RATE_CARD_POLL_MS
    await producer.send([
      { topic: T.runsRaw.name, key: 'ops/a', value: serde.encode(T.runsRaw, raw(`${ns}-after`)) },
    ]);
    await producer.disconnect();
    const out = await readTopic<PricedRun>(kafka, T.runsPriced, { expected: 2, serde });
    const byId = Object.fromEntries(out.map((o) => [o.value.run.run_id, o.value]));
    expect(byId[`${ns}-before`]).toMatchObject({ price_status: 'unpriced', total_cost_nanos: 0 });
    // 1,000,000 × $0.20/M + 500,000 × $0.60/M = $0.50
    expect(byId[`${ns}-after`]).toMatchObject({
      price_status: 'priced',
      total_cost_nanos: 500_000_000,
      rate_card_id: `override:${model}`,
    });

    // The run that arrived unpriced, once stored, is repriced at its own time's rate and the breakdown follows.
    const pool = createPool(await migrated(), 1);
    try {
      // The list comes from stored runs (the recorder counts them as it inserts them): one, then none once repriced.
      expect((await listed()).filter((u) => u.model === model)).toEqual([]);
      await new RunsWriter(pool).write([byId[`${ns}-before`]]);
      expect((await listed()).filter((u) => u.model === model)).toEqual([
        expect.objectContaining({ team: 'ops', provider: 'selfhosted', model, runs: '1' }),
      ]);
      const reprice = async () =>
        (
          await fetch(`${api.url}/v1/models/unpriced/reprice`, {
            method: 'POST',
            headers: { authorization: `Bearer ${admin}` },
          })
        ).json();
      // (other unpriced runs in the shared database whose models now have a price are repriced too)
      expect(((await reprice()) as { repriced: number }).repriced).toBeGreaterThanOrEqual(1);
      expect(await reprice()).toMatchObject({ repriced: 0 });
      expect((await listed()).filter((u) => u.model === model)).toEqual([]);
      const { rows } = await pool.query(
        `select r.total_cost_nanos, r.price_status, r.rate_card_id, s.cost_nanos, s.unpriced_runs from runs r
         join spend_hourly s on s.team = r.team and s.bucket = date_trunc('hour', r.finished_at) and s.model = r.model
         where r.run_id = $1`,
        [`${ns}-before`],
      );
      expect(rows[0]).toEqual({
        total_cost_nanos: '500000000',
        price_status: 'priced',
        rate_card_id: `override:${model}`,
        cost_nanos: '500000000',
        unpriced_runs: '0',
      });
    } finally {
      await pool.end();
    }

    const refused = await fetch(`${api.url}/v1/rate-card/overrides/x`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify({ provider: 'selfhosted', match: { regex: '(' } }),
    });
    expect(refused.status).toBe(400);
  });
});
