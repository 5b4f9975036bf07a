import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL } from '@libs/db';

/** A stored run as the recent-runs list shows it; money in nano-units of its rate card's currency. */
export interface RunRow {
  run_id: string;
  team: string;
  agent_id: string;
  model: string;
  provider: string;
  status: string;
  price_status: string;
  customer_id: string | null;
  feature: string | null;
  session_id: string | null;
  parent_run_id: string | null;
  started_at: Date;
  finished_at: Date;
  /** finished_at in microseconds since the epoch: the exact position a cursor resumes from. */
  finished_us: string;
  input_tokens: string;
  output_tokens: string;
  total_cost_nanos: string;
  currency: string;
  children: number;
}

/** Where a page of runs ends: the last run's finished_at (µs), team and run_id, in the list's order. */
export interface RunPosition {
  finishedUs: bigint;
  team: string;
  runId: string;
}

export interface RunQuery {
  team: string | null;
  agentId: string | null;
  from: Date;
  to: Date;
  after: RunPosition | null;
  limit: number;
}

/** The runs table as the recent-runs list reads it: newest first, resumed after a position, never by offset. */
@Injectable()
export class RunsRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Up to `limit` runs in (finished_at, team, run_id) descending order, strictly after `after`. */
  async recent(q: RunQuery): Promise<RunRow[]> {
    const { rows } = await this.pool.query<RunRow>(
      `select r.run_id, r.team, r.agent_id, r.model, r.provider, r.status, r.price_status, r.customer_id, r.feature,
              r.session_id, r.parent_run_id, r.started_at, r.finished_at,
              (extract(epoch from r.finished_at) * 1000000)::bigint::text as finished_us,
              (r.uncached_input_tokens + r.cache_read_tokens + r.cache_write_tokens)::text as input_tokens,
              r.output_tokens::text, r.total_cost_nanos::text, r.currency,
              (select count(distinct c.run_id)::int from runs c
                where c.parent_run_id = r.run_id and c.team = r.team) as children
       from runs r
       where r.finished_at >= $1 and r.finished_at < $2 and ($3::text is null or r.team = $3)
         and ($4::text is null or r.agent_id = $4)
         and ($5::bigint is null
              or (r.finished_at, r.team, r.run_id) < (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6, $7))
       order by r.finished_at desc, r.team desc, r.run_id desc
       limit $8`,
      [
        q.from.toISOString(),
        q.to.toISOString(),
        q.team,
        q.agentId,
        q.after?.finishedUs.toString() ?? null,
        q.after?.team ?? null,
        q.after?.runId ?? null,
        q.limit,
      ],
    );
    return rows;
  }
}
