import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { generateApiKey, hashApiKey, hashesMatch, parseApiKey, type Principal, type Role } from './api-key';

export interface ApiKeyInfo {
  id: string;
  team: string;
  name: string;
  role: Role;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

interface CacheEntry {
  principal: Principal | null;
  until: number;
}

/** API keys, stored only as hashes. Verified keys are cached briefly, so a revocation is felt within `cacheMs`. */
export class ApiKeyRepository {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly pool: Pool,
    private readonly cacheMs = 5000,
  ) {}

  /** Creates a key; the returned `key` is the only time the secret exists outside the caller. */
  async create(
    team: string,
    name: string,
    role: Role,
  ): Promise<{ id: string; key: string; info: ApiKeyInfo }> {
    const { key, prefix, hash } = generateApiKey();
    const id = randomUUID();
    const { rows } = await this.pool.query<ApiKeyInfo>(
      `insert into api_keys (id, team, name, role, prefix, key_hash) values ($1, $2, $3, $4, $5, $6)
       returning id, team, name, role, prefix, created_at, last_used_at, revoked_at`,
      [id, team, name, role, prefix, hash],
    );
    return { id, key, info: rows[0] };
  }

  /** Keys of `team` (all teams if absent) and of `role` (both if absent). */
  async list(team?: string, role?: Role): Promise<ApiKeyInfo[]> {
    const { rows } = await this.pool.query<ApiKeyInfo>(
      `select id, team, name, role, prefix, created_at, last_used_at, revoked_at from api_keys
       where ($1::text is null or team = $1) and ($2::text is null or role = $2) order by created_at`,
      [team ?? null, role ?? null],
    );
    return rows;
  }

  /**
   * A page of list(): at most `limit` keys after the position `after` ([created_at in epoch microseconds, id]), oldest
   * first then by id, each with its position (what `after` takes to start after it).
   */
  async page(
    team: string | undefined,
    role: Role | undefined,
    limit: number,
    after: readonly [string, string] | null,
  ): Promise<{ keys: ApiKeyInfo[]; positions: [string, string][] }> {
    const { rows } = await this.pool.query<ApiKeyInfo & { created_us: string }>(
      `select id, team, name, role, prefix, created_at, last_used_at, revoked_at,
              (extract(epoch from created_at) * 1000000)::bigint::text as created_us
       from api_keys
       where ($1::text is null or team = $1) and ($2::text is null or role = $2)
         and ($3::bigint is null
              or (created_at, id::text) > ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::text))
       order by created_at, id::text limit $5`,
      [team ?? null, role ?? null, after?.[0] ?? null, after?.[1] ?? null, limit],
    );
    return {
      keys: rows.map(({ created_us: _, ...key }) => key),
      positions: rows.map((r) => [r.created_us, String(r.id)]),
    };
  }

  async get(id: string): Promise<ApiKeyInfo | null> {
    const { rows } = await this.pool.query<ApiKeyInfo>(
      'select id, team, name, role, prefix, created_at, last_used_at, revoked_at from api_keys where id = $1',
      [id],
    );
    return rows[0] ?? null;
  }

  async revoke(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'update api_keys set revoked_at = now() where id = $1 and revoked_at is null',
      [id],
    );
    this.cache.clear();
    return (rowCount ?? 0) > 0;
  }

  /** The principal behind a presented key, or null (unknown, malformed or revoked). */
  async verify(key: string): Promise<Principal | null> {
    const parsed = parseApiKey(key);
    if (!parsed) return null;
    const hash = hashApiKey(key);
    const cacheKey = hash.toString('base64');
    const cached = this.cache.get(cacheKey);
    const now = Date.now();
    if (cached && cached.until > now) return cached.principal;
    const { rows } = await this.pool.query<{ id: string; team: string; role: Role; key_hash: Buffer }>(
      'select id, team, role, key_hash from api_keys where prefix = $1 and revoked_at is null',
      [parsed.prefix],
    );
    const row = rows[0];
    const principal =
      row && hashesMatch(row.key_hash, hash) ? { keyId: row.id, team: row.team, role: row.role } : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(cacheKey, { principal, until: now + this.cacheMs });
    if (principal)
      void this.pool
        .query('update api_keys set last_used_at = now() where id = $1', [principal.keyId])
        .catch(() => undefined);
    return principal;
  }
}
