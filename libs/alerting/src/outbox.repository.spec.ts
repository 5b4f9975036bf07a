import type { Pool } from 'pg';
import { randomBytes } from 'node:crypto';
import { SecretBox } from '@libs/secrets';
import { sealDestination } from './destination-secrets';
import { AlertOutboxRepository, type OutboxRow } from './outbox.repository';

/** Records each statement and answers with the given row count: the fence itself is proven on PostgreSQL in test/. */
function recordingPool(rowCount: number): { pool: Pool; calls: { sql: string; params: unknown[] }[] } {
  const calls: { sql: string; params: unknown[] }[] = [];
  const pool = {
    query: async (sql: string, params: unknown[] = []) => {
      calls.push({ sql, params });
      return { rows: [], rowCount };
    },
  } as unknown as Pool;
  return { pool, calls };
}

const row = { id: '7', attempts: 3 } as OutboxRow;

describe(AlertOutboxRepository.name, () => {
  it('writes a row only while it is still pending under the attempts this replica claimed it with', async () => {
    const { pool, calls } = recordingPool(1);
    const sut = new AlertOutboxRepository(pool);
    expect(await sut.renew(row, 40_000)).toBe(true);
    expect(await sut.finish(row, 'delivered', 202, null)).toBe(true);
    expect(await sut.reschedule(row, 1000, 503, 'HTTP 503')).toBe(true);
    for (const { sql, params } of calls) {
      expect(sql).toMatch(/where id = \$1 and attempts = \$2 and state = 'pending'/);
      expect(params.slice(0, 2)).toEqual(['7', 3]);
    }
  });

  it('says so when another replica holds the row', async () => {
    const sut = new AlertOutboxRepository(recordingPool(0).pool);
    expect(await sut.renew(row, 40_000)).toBe(false);
    expect(await sut.finish(row, 'failed', 404, 'HTTP 404')).toBe(false);
    expect(await sut.reschedule(row, 1000, 503, 'HTTP 503')).toBe(false);
  });

  it('claims around the destinations still being worked through, a few rows of each', async () => {
    const { pool, calls } = recordingPool(0);
    await new AlertOutboxRepository(pool).claim(50, 10, ['k1', 'k2'], 60_000);
    expect(calls[0].sql).toMatch(/destination_key <> all\(\$3::text\[\]\)/);
    expect(calls[0].sql).toMatch(
      /partition by destination_key order by id\) as n from due\) ranked\s+where n <= \$2/,
    );
    expect(calls[0].sql).toMatch(/attempts = o\.attempts \+ 1/);
    expect(calls[0].params).toEqual([50, 10, ['k1', 'k2'], 60_000]);
  });

  it('opens sealed destinations, and marks one it cannot open instead of failing the claim', async () => {
    const box = SecretBox.fromEnv({ SECRETS_KEY: randomBytes(32).toString('base64') });
    const stranger = SecretBox.fromEnv({ SECRETS_KEY: randomBytes(32).toString('base64') });
    const hook = { type: 'webhook' as const, url: 'https://hooks.example.com/x', secret: 'whsec_abc' };
    const rows = [
      { id: '1', destination: sealDestination(box, hook) },
      { id: '2', destination: sealDestination(stranger, hook) },
    ];
    const pool = { query: async () => ({ rows, rowCount: rows.length }) } as unknown as Pool;
    const [readable, unreadable] = await new AlertOutboxRepository(pool, box).claim(50, 10, [], 60_000);
    expect(readable.destination).toEqual(hook);
    expect(readable.unreadable).toBeUndefined();
    expect(unreadable.unreadable).toMatch(/neither SECRETS_KEY nor in SECRETS_PREVIOUS_KEYS/);
  });
});
