import { Pool, types } from 'pg';

// bigint (int8) columns hold nano-unit money and counts: keep them exact as strings, never floats.
types.setTypeParser(20, (v) => v);
// numeric likewise (sums of money).
types.setTypeParser(1700, (v) => v);

export function createPool(databaseUrl: string, max = 10): Pool {
  return new Pool({
    connectionString: databaseUrl,
    max,
    idleTimeoutMillis: 30000,
    connectionTimeoutMillis: 5000,
  });
}
