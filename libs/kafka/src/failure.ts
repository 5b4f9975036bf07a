/**
 * Telling a record that fails on its own from a dependency that is down. The consumer loop isolates the first kind
 * (retries the records alone and dead-letters the one that keeps failing) and waits out the second (the partition
 * holds its place and retries with backoff; nothing is dead-lettered because PostgreSQL restarted).
 */

/** Thrown by a handler that knows a dependency is unavailable: the slice is retried with backoff, never dead-lettered. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
]);

/** SQLSTATEs that say PostgreSQL (not the row) is the problem: connection, resources, shutdown, contention. */
function transientSqlState(code: string): boolean {
  const cls = code.slice(0, 2);
  return (
    cls === '08' || // connection exception
    cls === '53' || // insufficient resources
    cls === '58' || // system error
    code === '57P01' || // admin shutdown
    code === '57P02' || // crash shutdown
    code === '57P03' || // cannot connect now
    code === '40001' || // serialization failure
    code === '40P01' || // deadlock
    code === '55P03' || // lock not available
    // the database is not what this code expects (a migration not run yet): a deployment to fix, not records to drop
    cls === '42' ||
    cls === '3D' ||
    cls === '3F'
  );
}

const TRANSIENT_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /client has encountered a connection error/i,
  /connection (?:is )?closed/i,
  /socket hang up/i,
  /fetch failed/i,
];

/**
 * True when the error says a dependency is unavailable rather than that the records are bad: Kafka client errors,
 * network errors, PostgreSQL connection/resource/shutdown states, and TransientError; causes and aggregate errors
 * are looked through. Anything else (a constraint, bad data, a bug tripped by one record) is treated as the records'.
 */
export function isTransient(err: unknown, depth = 0): boolean {
  if (depth > 5 || err === null || typeof err !== 'object') return false;
  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (err instanceof TransientError) return true;
  if (typeof e.name === 'string' && e.name.startsWith('KafkaJS')) return true;
  if (typeof e.code === 'string') {
    if (NETWORK_CODES.has(e.code)) return true;
    if (/^[0-9A-Z]{5}$/.test(e.code)) return transientSqlState(e.code);
  }
  if (typeof e.message === 'string' && TRANSIENT_MESSAGES.some((re) => re.test(e.message as string)))
    return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isTransient(x, depth + 1))) return true;
  return e.cause !== undefined && isTransient(e.cause, depth + 1);
}

/** Delay before the n-th retry (n >= 1): exponential from 250 ms, capped, with full jitter on the upper half. */
export function backoffMs(attempt: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, 250 * 2 ** Math.min(attempt - 1, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`;
  return String(err);
}
