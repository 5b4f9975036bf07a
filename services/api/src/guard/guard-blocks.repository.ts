import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { PG_POOL } from '@libs/db';
import type { ManualBlock } from './core/manual-block';

export interface NewManualBlock {
  team: string;
  agent_id: string;
  customer_id: string | null;
  tool: string | null;
  reason: string;
  until: number | null;
  created_by_key_id: string;
}

interface Row {
  id: string;
  team: string;
  agent_id: string;
  customer_id: string | null;
  tool: string | null;
  reason: string;
  until: Date | null;
  created_by_key_id: string;
  created_at: Date;
  lifted_by_key_id: string | null;
  lifted_at: Date | null;
}

const COLUMNS =
  'id, team, agent_id, customer_id, tool, reason, until, created_by_key_id, created_at, lifted_by_key_id, lifted_at';
const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());
const blockOf = (r: Row): ManualBlock => ({
  ...r,
  until: ms(r.until),
  created_at: r.created_at.getTime(),
  lifted_at: ms(r.lifted_at),
});

/**
 * The audit of manual guard blocks (guard_blocks). Creating and lifting take the step that makes the block real (its
 * records acknowledged by Kafka) and commit the row only once that step has succeeded: a failed step leaves no row and
 * no lifting recorded.
 */
@Injectable()
export class GuardBlocksRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Records a new block, committed only once `publish` (given the block as stored) has resolved. */
  async create(input: NewManualBlock, publish: (block: ManualBlock) => Promise<void>): Promise<ManualBlock> {
    return this.transaction(async (c) => {
      const { rows } = await c.query<Row>(
        `insert into guard_blocks (id, team, agent_id, customer_id, tool, reason, until, created_by_key_id, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, date_trunc('milliseconds', now()))
         returning ${COLUMNS}`,
        [
          randomUUID(),
          input.team,
          input.agent_id,
          input.customer_id,
          input.tool,
          input.reason,
          input.until === null ? null : new Date(input.until),
          input.created_by_key_id,
        ],
      );
      const block = blockOf(rows[0]);
      await publish(block);
      return block;
    });
  }

  /**
   * Records that `keyId` lifted the block, committed only once `publish` (given the block as lifted) has resolved.
   * Null when there is no such block (in `team`, when given); a block lifted before is answered as it is, and
   * `publish` is not called.
   */
  async lift(
    id: string,
    team: string | null,
    keyId: string,
    publish: (block: ManualBlock) => Promise<void>,
  ): Promise<ManualBlock | null> {
    return this.transaction(async (c) => {
      const { rows } = await c.query<Row>(
        `select ${COLUMNS} from guard_blocks where id = $1 and ($2::text is null or team = $2) for update`,
        [id, team],
      );
      if (rows.length === 0) return null;
      if (rows[0].lifted_at !== null) return blockOf(rows[0]);
      const lifted = await c.query<Row>(
        `update guard_blocks set lifted_by_key_id = $2, lifted_at = date_trunc('milliseconds', now())
         where id = $1 returning ${COLUMNS}`,
        [id, keyId],
      );
      const block = blockOf(lifted.rows[0]);
      await publish(block);
      return block;
    });
  }

  /**
   * Lifts up to `limit` blocks whose `until` has passed and that nobody lifted, as lifted at their `until` by no key;
   * committed only once `publish` (given them as lifted) has resolved. Rows another replica is lifting are skipped
   * (`for update skip locked`), so each lapsed block is lifted once however many replicas sweep.
   */
  async expireDue(limit: number, publish: (blocks: ManualBlock[]) => Promise<void>): Promise<ManualBlock[]> {
    return this.transaction(async (c) => {
      const { rows } = await c.query<Row>(
        `update guard_blocks set lifted_at = until
         where id in (select id from guard_blocks
                      where lifted_at is null and until is not null and until <= now()
                      order by until limit $1 for update skip locked)
         returning ${COLUMNS}`,
        [limit],
      );
      const blocks = rows.map(blockOf);
      if (blocks.length > 0) await publish(blocks);
      return blocks;
    });
  }

  /**
   * Blocks of `team` (every team: null), newest first by (created_at, id), `limit` of them after the block `after`
   * (the last of the page before; a row is never deleted and its created_at never changes, so the order is stable);
   * and whether more follow.
   */
  /**
   * Newest first (then by id): at most `limit` blocks after the position `after` ([created_at in epoch microseconds,
   * id]), each with its position.
   */
  async list(
    team: string | null,
    limit: number,
    after: readonly [string, string] | null,
  ): Promise<{ blocks: ManualBlock[]; positions: [string, string][] }> {
    const { rows } = await this.pool.query<Row & { created_us: string }>(
      `select ${COLUMNS}, (extract(epoch from created_at) * 1000000)::bigint::text as created_us from guard_blocks
       where ($1::text is null or team = $1)
         and ($2::bigint is null
              or (created_at, id::text) < ('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::text))
       order by created_at desc, id::text desc limit $4`,
      [team, after?.[0] ?? null, after?.[1] ?? null, limit],
    );
    return { blocks: rows.map(blockOf), positions: rows.map((r) => [r.created_us, String(r.id)]) };
  }

  private async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('begin');
      const result = await work(client);
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => (broken = true));
      throw err;
    } finally {
      client.release(broken);
    }
  }
}
