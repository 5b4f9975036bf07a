import type { Pool } from 'pg';
import { topicsIn } from '@libs/contracts';
import { createPool } from '@libs/db';
import { provisionTopics } from '@libs/kafka';
import { createKey, migrated, startService, type ServiceProcess } from './support/services';
import { testConfig, testKafka, uid } from './support/stack';

const config = testConfig();
const ns = `t${uid()}`;

async function until<T>(
  what: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await fn();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 500));
    last = await fn();
  }
  return last;
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
          /burnrate_recorder_rows_total\{[^}]*outcome="duplicate"[^}]*\} (\d+)/.exec(text)?.[1] ?? 0,
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
});
