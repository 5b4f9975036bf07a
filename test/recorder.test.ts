import type { Pool } from 'pg';
import { topicsIn, type PricedRun, type RunEvent } from '@libs/contracts';
import { createPool } from '@libs/db';
import { provisionTopics } from '@libs/kafka';
import { RunsWriter } from '../services/recorder/src/runs.writer';
import { pricedRun, runEvent } from './support/fixtures';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { testConfig, testKafka, uid } from './support/stack';
import { until } from './support/wait';

const config = testConfig();
const ns = `t${uid()}`;

/** Priced runs a recorder has read so far: inserted or skipped as duplicates. */
async function runsRead(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^burnrate_recorder_rows_total\{([^}]*)\} (\d+)$/gm))
    if (m[1].includes('table="runs"')) n += Number(m[2]);
  return n;
}

describe('HTTP -> ingestion -> pricing -> recorder -> PostgreSQL (separate processes, real stack)', () => {
  const services: ServiceProcess[] = [];
  let pool: Pool;
  let team: string;
  let key: string;
  const env = { BURNRATE_TOPIC_NAMESPACE: ns, KAFKA_SESSION_TIMEOUT_MS: '6000' };

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    team = `team-${uid()}`;
    key = (await createKey(team)).key;
    const admin = testKafka(config).admin();
    await admin.connect();
    await provisionTopics(admin, config, Object.values(topicsIn(ns)));
    await admin.disconnect();
    services.push(await startService('ingestion', 18281, env));
    services.push(
      await startService('pricing', 18282, {
        ...env,
        CONSUMER_GROUP: `pricing-${ns}`,
        INSTANCE_ID: 'rec-test',
      }),
    );
    services.push(await startService('recorder', 18283, { ...env, CONSUMER_GROUP: `recorder-${ns}` }));
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await pool?.end();
  });

  const totals = async (of = team) =>
    (
      await pool.query<{ runs: string; cost: string; rollup_runs: string; rollup_cost: string }>(
        `select (select count(*) from runs where team = $1) as runs,
                (select coalesce(sum(total_cost_nanos), 0) from runs where team = $1) as cost,
                (select coalesce(sum(runs), 0) from spend_hourly where team = $1) as rollup_runs,
                (select coalesce(sum(cost_nanos), 0) from spend_hourly where team = $1) as rollup_cost`,
        [of],
      )
    ).rows[0];

  const finished = Date.now() - 3_600_000;
  const sameBatch = () =>
    Array.from({ length: 60 }, (_, i) => ({
      run_id: `${ns}-${i}`,
      agent_id: `agent-${i % 3}`,
      model: 'gpt-4o-2024-08-06',
      input_tokens: 10_000,
      cache_read_tokens: 8_000,
      output_tokens: 1_000,
      customer_id: i % 4 === 0 ? null : 'acme',
      started_at: new Date(finished - 2000).toISOString(),
      finished_at: new Date(finished + i * 1000).toISOString(),
      status: i % 10 === 0 ? 'error' : 'success',
    }));

  it('stores each run once, with its rollup, even when the client retries the whole batch and the recorder replays', async () => {
    const batch = sameBatch();
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetch(`${services[0].url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(batch),
      });
      expect(res.status).toBe(202);
    }
    // gpt-4o: 2,000 × $2.50/M + 8,000 × $1.25/M + 1,000 × $10/M = $0.025 per run
    const expected = {
      runs: '60',
      cost: String(60 * 25_000_000),
      rollup_runs: '60',
      rollup_cost: String(60 * 25_000_000),
    };
    const stored = await until(
      'stored',
      () => totals(),
      (t) => t.runs === '60' && t.rollup_runs === '60',
    );
    expect(stored).toEqual(expected);

    const { rows } = await pool.query<{ successful: string; unattributed: string }>(
      `select sum(successful_runs) as successful, sum(runs) filter (where customer_id = '') as unattributed
       from spend_hourly where team = $1`,
      [team],
    );
    expect(rows[0]).toEqual({ successful: '54', unattributed: '15' });

    // A second recorder group replays the whole topic into the same tables: nothing changes.
    const replay = await startService('recorder', 18284, { ...env, CONSUMER_GROUP: `recorder-replay-${ns}` });
    services.push(replay);
    // It read every priced record (both copies of the retried batch) and inserted none of them.
    const duplicates = await until(
      'replayed',
      async () => {
        const text = await (await fetch(`${replay.url}/metrics`)).text();
        return Number(
          /burnrate_recorder_rows_total\{(?=[^}]*table="runs")(?=[^}]*outcome="duplicate")[^}]*\} (\d+)/.exec(
            text,
          )?.[1] ?? 0,
        );
      },
      (n) => n >= 120,
    );
    expect(duplicates).toBe(120);
    expect(await totals()).toEqual(expected);
  });

  it("stores another team's runs that reuse the same run_ids and times: a run is the team's, its id only the team's", async () => {
    const other = `team-${uid()}`;
    const res = await fetch(`${services[0].url}/v1/runs`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${(await createKey(other)).key}`,
      },
      body: JSON.stringify(sameBatch()),
    });
    expect(res.status).toBe(202);
    const theirs = await until(
      'stored',
      () => totals(other),
      (t) => t.runs === '60' && t.rollup_runs === '60',
    );
    expect(theirs).toEqual({
      runs: '60',
      cost: String(60 * 25_000_000),
      rollup_runs: '60',
      rollup_cost: String(60 * 25_000_000),
    });
    expect((await totals()).runs).toBe('60');
  });

  it('counts a team’s unpriced model once per run, though the client retried the batch and a second group replays it', async () => {
    const model = `homegrown-${uid()}`;
    const batch = Array.from({ length: 12 }, (_, i) => ({
      run_id: `${ns}-unpriced-${i}`,
      agent_id: `agent-${i % 3}`,
      model,
      provider: 'selfhosted',
      input_tokens: 1000,
      output_tokens: 100,
      started_at: new Date(finished - 2000).toISOString(),
      finished_at: new Date(finished + i * 1000).toISOString(),
      status: 'success',
    }));
    const before = await runsRead(services[2].url);
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetch(`${services[0].url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify(batch),
      });
      expect(res.status).toBe(202);
    }
    const seen = async () =>
      (
        await pool.query<{ team: string; runs: string; first_seen: Date; last_seen: Date }>(
          'select team, runs, first_seen, last_seen from unpriced_models where model = $1',
          [model],
        )
      ).rows;
    const stored = async () =>
      (
        await pool.query<{ n: string }>(
          "select count(*) as n from runs where team = $1 and model = $2 and price_status = 'unpriced'",
          [team, model],
        )
      ).rows[0].n;
    await until('stored', stored, (n) => n === '12');
    const expected = [
      { team, runs: '12', first_seen: new Date(finished), last_seen: new Date(finished + 11_000) },
    ];
    await until(
      'both copies read',
      () => runsRead(services[2].url),
      (n) => n >= before + 24,
    );
    expect(await seen()).toEqual(expected);

    const replay = await startService('recorder', 18285, {
      ...env,
      CONSUMER_GROUP: `recorder-replay-unpriced-${ns}`,
    });
    services.push(replay);
    const all = await runsRead(services[2].url);
    await until(
      'replayed',
      () => runsRead(replay.url),
      (n) => n >= all,
    );
    expect(await seen()).toEqual(expected);
  });
});

describe(`${RunsWriter.name}: unpriced models, per team, from the runs it inserts`, () => {
  let pool: Pool;
  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
  });
  afterAll(async () => {
    await pool.end();
  });

  const unpriced = (team: string, model: string, over: Partial<RunEvent>): PricedRun => ({
    ...pricedRun(runEvent({ team, model, provider: 'selfhosted', ...over }), 0),
    price_status: 'unpriced',
    rate_card_id: null,
    rate_card_version: null,
  });

  it('counts a redelivered run once, and each team apart', async () => {
    const [a, b] = [`ua-${uid()}`, `ub-${uid()}`];
    const model = `homegrown-${uid()}`;
    const at = Date.UTC(2026, 5, 9, 10);
    const first = unpriced(a, model, { run_id: 'r1', finished_at: at });
    const sut = new RunsWriter(pool);
    expect(await sut.write([first])).toBe(1);
    expect(await sut.write([first])).toBe(0); // redelivered alone
    expect(
      await sut.write([
        first, // and again beside new runs
        unpriced(a, model, { run_id: 'r2', finished_at: at + 5000 }),
        unpriced(a, model, { run_id: 'r2', finished_at: at + 5000 }), // twice in one batch
        unpriced(b, model, { run_id: 'r1', finished_at: at - 5000 }), // another team, same run_id
        pricedRun(runEvent({ team: a, run_id: 'r3', model: 'gpt-4o', finished_at: at }), 1000),
      ]),
    ).toBe(3);
    const { rows } = await pool.query(
      'select team, provider, model, runs, first_seen, last_seen from unpriced_models where model = $1 order by team',
      [model],
    );
    expect(rows).toEqual([
      {
        team: a,
        provider: 'selfhosted',
        model,
        runs: '2',
        first_seen: new Date(at),
        last_seen: new Date(at + 5000),
      },
      {
        team: b,
        provider: 'selfhosted',
        model,
        runs: '1',
        first_seen: new Date(at - 5000),
        last_seen: new Date(at - 5000),
      },
    ]);
    for (const t of [a, b]) {
      await pool.query('delete from runs where team = $1', [t]);
      await pool.query('delete from spend_hourly where team = $1', [t]);
      await pool.query('delete from unpriced_models where team = $1', [t]);
    }
  });
});
