import type { DeliveryFailure, SdkRun } from './types';

/** What a sink made of one batch: how many runs it delivered, and which it refused for good. */
export interface Delivered {
  sent: number;
  failures: DeliveryFailure[];
}

/** Where batches go: ingestion over HTTP, or Kafka. */
export interface Sink {
  /** Delivers one batch; throws RetryableError when the same batch should be sent again later. */
  deliver(batch: SdkRun[]): Promise<Delivered>;
}

/** The batch may be sent again: the receiver was unavailable (503, 429, a network error, a timeout). */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
    /** How long the receiver asked us to wait (Retry-After), in milliseconds. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'RetryableError';
  }
}

/** Retry-After as seconds or as an HTTP date, in milliseconds from `now`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
