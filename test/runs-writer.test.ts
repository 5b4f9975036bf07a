import type { Pool } from 'pg';
import { createPool } from '@libs/db';
import { RunsWriter } from '../services/recorder/src/runs.writer';
import { pricedRun, runEvent } from './support/fixtures';
import { migrated } from './support/services';
import { uid } from './support/stack';

describe(`${RunsWriter.name} against PostgreSQL`, () => {
  let pool: Pool;
  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
  });
  afterAll(async () => {
    await pool.end();
  });

  it('stores every field exactly, whatever the text holds, and each run once with its rollup', async () => {
    const team = `w-${uid()}`;
    const at = Date.UTC(2026, 5, 9, 10, 0, 0, 123);
    const awkward = ['say "hi"', 'C:\\path\\', 'a,b{c}', 'NULL', '', 'ünïcødé 文字 😀', "it's", ' spaced '];
    const runs = awkward.map((text, i) => ({
      ...pricedRun(
        runEvent({
          run_id: `${text}#${i}`,
          team,
          agent_id: `agent ${text}`,
          customer_id: text,
          feature: i % 2 ? null : text,
          cost_centre: text,
          session_id: i % 3 ? text : null,
          tool: text,
          parent_run_id: i ? `${awkward[i - 1]}#${i - 1}` : null,
          quality_score: i % 2 ? 0.125 * i : null,
          tags: { [text || 'empty']: text, quote: '"', slash: '\\' },
          started_at: at - 1500 - i,
          finished_at: at + i,
          received_at: i % 2 ? at + i + 7 : null,
        }),
        9_007_199_254 + i, // more than 32 bits of nano-units
      ),
      price_tier: i % 2 ? text : null,
      rate_card_version: text,
    }));
    const sut = new RunsWriter(pool);
    expect(await sut.write(runs)).toBe(runs.length);
    expect(await sut.write(runs)).toBe(0);

    const { rows } = await pool.query(
      `select run_id, agent_id, customer_id, feature, cost_centre, session_id, tool, parent_run_id, quality_score, tags,
         price_tier, rate_card_version, total_cost_nanos, (extract(epoch from finished_at) * 1000)::bigint as finished_ms,
         (extract(epoch from started_at) * 1000)::bigint as started_ms, (extract(epoch from received_at) * 1000)::bigint as received_ms
       from runs where team = $1 order by finished_at`,
      [team],
    );
    expect(rows).toEqual(
      runs.map((p) => ({
        run_id: p.run.run_id,
        agent_id: p.run.agent_id,
        customer_id: p.run.customer_id,
        feature: p.run.feature,
        cost_centre: p.run.cost_centre,
        session_id: p.run.session_id,
        tool: p.run.tool,
        parent_run_id: p.run.parent_run_id,
        quality_score: p.run.quality_score,
        tags: p.run.tags,
        price_tier: p.price_tier,
        rate_card_version: p.rate_card_version,
        total_cost_nanos: String(p.total_cost_nanos),
        finished_ms: String(p.run.finished_at),
        started_ms: String(p.run.started_at),
        received_ms: p.run.received_at === null ? null : String(p.run.received_at),
      })),
    );
    const rollup = await pool.query<{ runs: string; cost: string }>(
      'select sum(runs) as runs, sum(cost_nanos) as cost from spend_hourly where team = $1',
      [team],
    );
    expect(rollup.rows[0]).toEqual({
      runs: String(runs.length),
      cost: String(runs.reduce((s, p) => s + p.total_cost_nanos, 0)),
    });
    await pool.query('delete from runs where team = $1', [team]);
    await pool.query('delete from spend_hourly where team = $1', [team]);
  });
});
