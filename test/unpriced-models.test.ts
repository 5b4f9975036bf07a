import type { Pool } from 'pg';
import type { PricedRun, RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { RunsWriter } from '../services/recorder/src/runs.writer';
import { pricedRun, runEvent } from './support/fixtures';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { uid } from './support/stack';

function unpriced(team: string, model: string, over: Partial<RunEvent>): PricedRun {
  return {
    ...pricedRun(runEvent({ team, model, provider: 'selfhosted', ...over }), 0),
    uncached_input_tokens: over.input_tokens ?? 1000,
    price_status: 'unpriced',
    rate_card_id: null,
    rate_card_version: null,
  };
}

describe('GET /v1/models/unpriced and its reprice, per team (api in its own process, real PostgreSQL)', () => {
  let api: ServiceProcess;
  let pool: Pool;
  let admin: string;
  const teamA = `ua-${uid()}`;
  const teamB = `ub-${uid()}`;
  const teamC = `uc-${uid()}`;
  let keyA: string;
  let keyB: string;
  let keyC: string;
  const modelA = `a-only-${uid()}`;
  const modelB = `b-only-${uid()}`;
  const shared = `shared-${uid()}`;
  const unguessable = `mymodel-${uid()}`;
  const at = Date.UTC(2026, 5, 9, 10);

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    admin = (await createKey('_admin', 'admin')).key;
    keyA = (await createKey(teamA)).key;
    keyB = (await createKey(teamB)).key;
    keyC = (await createKey(teamC)).key;
    // The recorder's own statement writes the counts; both teams number their runs alike.
    await new RunsWriter(pool).write([
      unpriced(teamA, modelA, { run_id: 'r1', finished_at: at }),
      unpriced(teamA, shared, { run_id: 'r2', finished_at: at, input_tokens: 1_000_000 }),
      unpriced(teamB, shared, { run_id: 'r2', finished_at: at, input_tokens: 2_000_000 }),
      unpriced(teamB, modelB, { run_id: 'r1', finished_at: at }),
      // As pricing stores them: a typo'd OpenAI model, and a name sent without a provider that none is inferred from.
      unpriced(teamC, 'gpt-4o-mnii', { run_id: 'r1', finished_at: at, provider: 'openai' }),
      { ...unpriced(teamC, unguessable, { run_id: 'r2', finished_at: at }), provider: 'unknown' },
    ]);
    api = await startService('api', 18391);
  });

  afterAll(async () => {
    await api?.stop();
    if (pool) {
      await pool.query("delete from rate_card where id = $1 and source = 'override'", [`override:${shared}`]);
      for (const t of [teamA, teamB, teamC]) {
        await pool.query('delete from runs where team = $1', [t]);
        await pool.query('delete from spend_hourly where team = $1', [t]);
        await pool.query('delete from unpriced_models where team = $1', [t]);
      }
      await pool.end();
    }
  });

  const list = async (key: string, query = '') => {
    const res = await fetch(`${api.url}/v1/models/unpriced${query}`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const body = (await res.json()) as { team: string; model: string; runs: string }[];
    return {
      status: res.status,
      ours: res.ok
        ? body
            .filter((u) => u.team === teamA || u.team === teamB)
            .map(({ team, model, runs }) => `${team} ${model} ${runs}`)
            .sort()
        : body,
      teams: res.ok ? [...new Set(body.map((u) => u.team))] : [],
    };
  };

  type Explained = {
    team: string;
    provider: string;
    model: string;
    reason: string;
    explanation: string;
    suggestions: { provider: string; model: string }[];
  };
  const explained = async (key: string, team: string, model: string): Promise<Explained | undefined> => {
    const res = await fetch(`${api.url}/v1/models/unpriced`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as Explained[]).find((u) => u.team === team && u.model === model);
  };

  it('says why each model is unpriced, in a sentence, with the nearest names the dataset knows', async () => {
    const typo = await explained(keyC, teamC, 'gpt-4o-mnii');
    expect(typo).toMatchObject({ provider: 'openai', reason: 'unknown_model' });
    expect(typo!.suggestions.length).toBeGreaterThan(0);
    expect(typo!.suggestions.length).toBeLessThanOrEqual(3);
    expect(typo!.suggestions).toContainEqual({ provider: 'openai', model: 'gpt-4o-mini' });
    expect(typo!.explanation).toMatch(
      /^openai has no model matching 'gpt-4o-mnii'; did you mean .*gpt-4o-mini/,
    );

    expect(await explained(keyC, teamC, unguessable)).toMatchObject({
      provider: 'unknown',
      reason: 'unknown_provider',
      explanation: expect.stringMatching(
        /^no provider was given and none could be inferred from .*send `provider`/,
      ),
    });
    expect(await explained(keyA, teamA, shared)).toMatchObject({
      provider: 'selfhosted',
      reason: 'unknown_provider',
      explanation: expect.stringMatching(/^the price dataset has no provider 'selfhosted'/),
    });
  });

  it("shows a team key only its own team's models, and an admin every team's, with the team", async () => {
    expect(await list(keyA)).toEqual({
      status: 200,
      ours: [`${teamA} ${modelA} 1`, `${teamA} ${shared} 1`],
      teams: [teamA],
    });
    expect(await list(keyB)).toEqual({
      status: 200,
      ours: [`${teamB} ${modelB} 1`, `${teamB} ${shared} 1`],
      teams: [teamB],
    });
    expect((await list(keyA, `?team=${teamB}`)).status).toBe(403);
    expect((await list(admin, '?limit=1000')).ours).toEqual([
      `${teamA} ${modelA} 1`,
      `${teamA} ${shared} 1`,
      `${teamB} ${modelB} 1`,
      `${teamB} ${shared} 1`,
    ]);
    expect(await list(admin, `?team=${teamB}`)).toMatchObject({ teams: [teamB] });
    // bounded: each model's explanation is worked out on request
    expect((await list(keyA, '?limit=1')).ours).toHaveLength(1);
    expect((await list(keyA, '?limit=0')).status).toBe(400);
    expect((await list(keyA, '?limit=5000')).status).toBe(400);
  });

  it("reprices (admin only) each team's own run, and drops a team's model once none of its runs is unpriced", async () => {
    const reprice = (key: string) =>
      fetch(`${api.url}/v1/models/unpriced/reprice`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      });
    expect((await reprice(keyA)).status).toBe(403);

    const put = await fetch(`${api.url}/v1/rate-card/overrides/${shared}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify({
        provider: 'selfhosted',
        match: { equals: shared },
        input_per_mtok: 1,
        output_per_mtok: 0,
      }),
    });
    expect(put.status).toBe(200);
    // Until the reprice the runs stay unpriced, and the listing says the card now has their price.
    for (const [key, team] of [
      [keyA, teamA],
      [keyB, teamB],
    ])
      expect(await explained(key, team, shared)).toMatchObject({
        reason: 'priced_now',
        suggestions: [],
        explanation: expect.stringContaining('POST /v1/models/unpriced/reprice'),
      });
    // (other unpriced runs in the shared database whose models now have a price are repriced too)
    expect(((await (await reprice(admin)).json()) as { repriced: number }).repriced).toBeGreaterThanOrEqual(
      2,
    );

    // Both teams' run r2 at the same instant, each at its own tokens: $1/M × 1M and × 2M.
    const { rows } = await pool.query<{ team: string; price_status: string; total_cost_nanos: string }>(
      'select team, price_status, total_cost_nanos from runs where team = any($1) and model = $2 order by team',
      [[teamA, teamB], shared],
    );
    expect(rows).toEqual([
      { team: teamA, price_status: 'priced', total_cost_nanos: '1000000000' },
      { team: teamB, price_status: 'priced', total_cost_nanos: '2000000000' },
    ]);
    expect((await list(admin, '?limit=1000')).ours).toEqual([`${teamA} ${modelA} 1`, `${teamB} ${modelB} 1`]);
  });
});
