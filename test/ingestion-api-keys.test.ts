import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { Pool } from 'pg';
import { ApiKeyRepository, hashApiKey } from '@libs/auth';
import { createPool } from '@libs/db';
import { migrated } from './support/services';
import { uid } from './support/stack';

/** API keys against the real PostgreSQL: hashed storage, team scope, listing without secrets, revocation, the CLI. */
describe(ApiKeyRepository.name, () => {
  let pool: Pool;
  let sut: ApiKeyRepository;

  beforeAll(async () => {
    pool = createPool(await migrated(), 2);
    sut = new ApiKeyRepository(pool, 300);
  });

  afterAll(async () => {
    await pool?.end();
  });

  it('stores only the SHA-256 hash and a short prefix, and verifies the key to its team and role', async () => {
    const team = `team-${uid()}`;
    const { id, key } = await sut.create(team, 'ci', 'team');

    const { rows } = await pool.query<Record<string, unknown>>('select * from api_keys where id = $1', [id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].key_hash).toEqual(hashApiKey(key));
    expect(key).toContain(rows[0].prefix as string);
    expect(JSON.stringify(rows[0])).not.toContain(key.slice(-32));
    expect(await sut.verify(key)).toEqual({ keyId: id, team, role: 'team' });
    expect(await sut.verify(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'))).toBeNull();
  });

  it('lists keys of a team without any secret', async () => {
    const team = `team-${uid()}`;
    const a = await sut.create(team, 'first', 'team');
    const b = await sut.create(team, 'second', 'admin');

    const listed = await sut.list(team);
    expect(listed.map((k) => [k.id, k.name, k.role, k.revoked_at])).toEqual([
      [a.id, 'first', 'team', null],
      [b.id, 'second', 'admin', null],
    ]);
    const text = JSON.stringify(listed);
    expect(text).not.toContain(a.key.slice(-32));
    expect(text).not.toContain('key_hash');
  });

  it('stops verifying a revoked key: at once where it was revoked, within the cache lifetime elsewhere', async () => {
    const { id, key } = await sut.create(`team-${uid()}`, 'soon revoked', 'team');
    const elsewhere = new ApiKeyRepository(pool, 300);
    expect(await elsewhere.verify(key)).not.toBeNull();

    expect(await sut.revoke(id)).toBe(true);
    expect(await sut.verify(key)).toBeNull();
    await new Promise((r) => setTimeout(r, 400));
    expect(await elsewhere.verify(key)).toBeNull();
    expect(await sut.revoke(id)).toBe(false);
    expect((await sut.get(id))?.revoked_at).not.toBeNull();
  });

  it('is driven from the command line: create, list, revoke', () => {
    const team = `team-${uid()}`;
    const cli = (...args: string[]): string =>
      execFileSync(
        process.execPath,
        ['-r', '@swc-node/register', resolve(__dirname, '../scripts/api-keys.ts'), ...args],
        {
          cwd: resolve(__dirname, '..'),
          encoding: 'utf8',
        },
      );
    const created = JSON.parse(cli('create', team, 'from the cli')) as {
      id: string;
      key: string;
      role: string;
    };
    expect(created).toMatchObject({ role: 'team' });
    expect(created.key).toMatch(/^br_/);

    const listed = cli('list', team);
    expect(listed).toContain(created.id);
    expect(listed).not.toContain(created.key.slice(-32));

    expect(cli('revoke', created.id)).toContain(`revoked ${created.id}`);
    expect(cli('list', team)).not.toMatch(/"revoked_at":null/);
  });
});
