export type AttemptOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; delayMs: number; error: string }
  | { kind: 'failed'; error: string };

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 1000, maxDelayMs: 5 * 60_000 };

/** Retry-After as seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * What to do after an attempt: 2xx delivered; 408, 429, 5xx and network errors retried with exponential backoff and
 * full jitter (Retry-After wins when given); any other 4xx is a permanent failure; attempts are capped.
 */
export function classify(
  attempt: number,
  result: { status: number | null; retryAfter: string | null; error?: string },
  policy: RetryPolicy = DEFAULT_RETRY,
  now = Date.now(),
  random: () => number = Math.random,
): AttemptOutcome {
  const { status } = result;
  if (status !== null && status >= 200 && status < 300) return { kind: 'delivered' };
  const error = status === null ? (result.error ?? 'network error') : `HTTP ${status}`;
  const retryable = status === null || status === 408 || status === 429 || status >= 500;
  if (!retryable) return { kind: 'failed', error };
  if (attempt >= policy.maxAttempts) return { kind: 'failed', error: `${error} after ${attempt} attempts` };
  const asked = retryAfterMs(result.retryAfter, now);
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  const delayMs =
    asked !== null ? Math.min(asked, policy.maxDelayMs) : Math.round(backoff / 2 + random() * (backoff / 2));
  return { kind: 'retry', delayMs, error };
}
