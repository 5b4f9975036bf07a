import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL } from '@libs/db';

/** What the spend endpoints read: spend_hourly's rollups, and runs for sessions and call trees. */

/** The spend_hourly column each breakdown dimension groups by. */
export const SPEND_GROUP_COLUMNS = {
  agent: 'agent_id',
  customer: 'customer_id',
  feature: 'feature',
  team: 'team',
  model: 'model',
  cost_centre: 'cost_centre',
} as const;
export type SpendGroup = keyof typeof SPEND_GROUP_COLUMNS;

/** [from, to) as ISO instants, and the team (null: every team). */
export interface SpendScope {
  from: string;
  to: string;
  team: string | null;
}

/** Sums are numeric: exact decimal strings. */
export interface SpendBucketRow {
  b: Date;
  key: string;
  currency: string;
  runs: string;
  ok: string;
  cost: string;
}

export interface CustomerSpendRow {
  team: string;
  agent_id: string;
  customer: string | null;
  currency: string;
  runs: string;
  cost: string;
}

export interface TeamSpendRow {
  team: string;
  currency: string;
  runs: string;
  cost: string;
}

export interface UnattributedRow {
  team: string;
  agent_id: string;
  currency: string;
  runs: string;
  cost: string;
  agent_cost: string;
}

export interface SessionCostRow {
  session_id: string;
  cost: string;
  runs: string;
  currency: string;
}

export interface TreeRow {
  run_id: string;
  parent_run_id: string | null;
  agent_id: string;
  model: string;
  status: string;
  total_cost_nanos: string;
  currency: string;
  depth: number;
  cycle: boolean;
}

@Injectable()
export class SpendRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Runs, successful runs and cost by bucket (hour, day or week), group value and currency; most expensive first in a bucket. */
  async breakdown(group: SpendGroup, bucket: string, s: SpendScope): Promise<SpendBucketRow[]> {
    const column = SPEND_GROUP_COLUMNS[group];
    const { rows } = await this.pool.query<SpendBucketRow>(
      `select date_trunc($1, bucket) as b, nullif(${column}, '') as key, currency,
              sum(runs) as runs, sum(successful_runs) as ok, sum(cost_nanos) as cost
       from spend_hourly
       where bucket >= date_trunc('hour', $2::timestamptz) and bucket < $3::timestamptz and ($4::text is null or team = $4)
       group by 1, 2, 3 order by 1, sum(cost_nanos) desc`,
      [bucket, s.from, s.to, s.team],
    );
    return rows;
  }

  /** The `limit` most expensive agent × customer rows, and every team's totals (by currency). */
  async topCustomers(
    s: SpendScope,
    limit: number,
  ): Promise<{ rows: CustomerSpendRow[]; teams: TeamSpendRow[] }> {
    const params = [s.from, s.to, s.team];
    const where = `bucket >= date_trunc('hour', $1::timestamptz) and bucket < $2::timestamptz and ($3::text is null or team = $3)`;
    const [{ rows }, { rows: teams }] = await Promise.all([
      this.pool.query<CustomerSpendRow>(
        `select team, agent_id, nullif(customer_id, '') as customer, currency, sum(runs) as runs, sum(cost_nanos) as cost
         from spend_hourly where ${where} group by 1, 2, 3, 4 order by sum(cost_nanos) desc limit ${limit}`,
        params,
      ),
      this.pool.query<TeamSpendRow>(
        `select team, currency, sum(runs) as runs, sum(cost_nanos) as cost from spend_hourly where ${where} group by 1, 2 order by 1`,
        params,
      ),
    ]);
    return { rows, teams };
  }

  /** Per agent, the runs and cost without a customer_id and the agent's whole cost; agents with such runs only. */
  async unattributed(s: SpendScope): Promise<UnattributedRow[]> {
    const { rows } = await this.pool.query<UnattributedRow>(
      `select team, agent_id, currency, sum(runs) filter (where customer_id = '') as runs,
              coalesce(sum(cost_nanos) filter (where customer_id = ''), 0) as cost, sum(cost_nanos) as agent_cost
       from spend_hourly
       where bucket >= date_trunc('hour', $1::timestamptz) and bucket < $2::timestamptz and ($3::text is null or team = $3)
       group by 1, 2, 3 having sum(runs) filter (where customer_id = '') > 0
       order by 5 desc`,
      [s.from, s.to, s.team],
    );
    return rows;
  }

  /** Each session of the agent whose runs finished in [from, to): its cost and runs. */
  async sessionCosts(agentId: string, s: SpendScope): Promise<SessionCostRow[]> {
    const { rows } = await this.pool.query<SessionCostRow>(
      `select session_id, sum(total_cost_nanos) as cost, count(*) as runs, min(currency) as currency
       from runs where agent_id = $1 and session_id is not null and finished_at >= $2 and finished_at < $3
         and ($4::text is null or team = $4)
       group by session_id`,
      [agentId, s.from, s.to, s.team],
    );
    return rows;
  }

  /**
   * A run (its latest stored copy, of `team` unless null) and its descendants, at most `maxRows` of them and
   * `maxDepth` + 1 levels below the root; a run met again on its own path is returned once with `cycle`.
   */
  async callTree(runId: string, team: string | null, maxDepth: number, maxRows: number): Promise<TreeRow[]> {
    // Breadth first; `path` stops a cycle (its repeat is returned once, flagged, and not followed), depth and the
    // outer limit bound the rest. PostgreSQL computes only as many rows as the limit takes.
    const { rows } = await this.pool.query<TreeRow>(
      `with recursive tree as (
         (select run_id, parent_run_id, agent_id, model, status, total_cost_nanos, currency, team, 0 as depth,
                 array[run_id] as path, false as cycle
          from runs where run_id = $1 and ($2::text is null or team = $2)
          order by team, finished_at desc limit 1)
         union all
         select c.run_id, c.parent_run_id, c.agent_id, c.model, c.status, c.total_cost_nanos, c.currency, c.team,
                t.depth + 1, t.path || c.run_id, c.run_id = any(t.path)
         from tree t cross join lateral (
           select distinct on (r.run_id) r.run_id, r.parent_run_id, r.agent_id, r.model, r.status, r.total_cost_nanos,
                  r.currency, r.team
           from runs r where r.parent_run_id = t.run_id and r.team = t.team
           order by r.run_id, r.finished_at desc
         ) c
         where not t.cycle and t.depth <= $3
       )
       select run_id, parent_run_id, agent_id, model, status, total_cost_nanos, currency, depth, cycle
       from tree limit $4`,
      [runId, team, maxDepth, maxRows],
    );
    return rows;
  }
}
