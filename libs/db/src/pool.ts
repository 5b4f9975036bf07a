import { Pool, types } from 'pg';

// bigint (int8) columns hold nano-unit money and counts: keep them exact as strings, never floats.
types.setTypeParser(20, (v) => v);
// numeric likewise (sums of money).
types.setTypeParser(1700, (v) => v);

/** How long one statement may run before PostgreSQL cancels it, unless the caller says otherwise. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

export interface PoolSettings {
  /** Most connections at once; 10 unless given. */
  max?: number;
  /**
   * PostgreSQL cancels a statement (and frees its backend) after this long, even when the client that asked has gone
   * away. 0 disables it; DEFAULT_STATEMENT_TIMEOUT_MS unless given.
   */
  statementTimeoutMs?: number;
  /** A CA file (PEM) the server's certificate is checked against, instead of the default ones (DATABASE_CA_FILE). */
  caFile?: string;
}

/** `createPool(url, 2)` is `createPool(url, { max: 2 })`. */
export function createPool(databaseUrl: string, settings: number | PoolSettings = {}): Pool {
  const {
    max = 10,
    statementTimeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
    caFile,
  } = typeof settings === 'number' ? { max: settings } : settings;
  return new Pool({
    connectionString: withCaFile(databaseUrl, caFile),
    max,
    idleTimeoutMillis: 30000,
    connectionTimeoutMillis: 5000,
    statement_timeout: statementTimeoutMs > 0 ? statementTimeoutMs : false,
  });
}

/**
 * The connection string with `caFile` as its `sslrootcert` (replacing one it has). pg reads that file into `ssl.ca`
 * and keeps the string's `sslmode`; an `ssl: { ca }` option instead would be dropped whenever the string has an
 * `sslmode` (pg lets the string's TLS settings replace the whole option). TLS is on unless `sslmode=disable`.
 */
export function withCaFile(databaseUrl: string, caFile: string | undefined): string {
  if (!caFile) return databaseUrl;
  const url = new URL(databaseUrl);
  url.searchParams.set('sslrootcert', caFile);
  return url.toString();
}

/** True for the error PostgreSQL raises when it cancels a statement (SQLSTATE 57014: statement_timeout or a cancel). */
export function isQueryCancelled(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '57014';
}
