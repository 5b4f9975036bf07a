import type { Destination } from './types';

/**
 * How a destination's deliveries are retried: exponential backoff from `firstDelayMs`, doubling with every attempt up
 * to `maxDelayMs`, with full jitter (each wait uniformly between 0 and that backoff); a Retry-After is honoured up to
 * `maxDelayMs`. A delivery older than `giveUpAfterMs` (since it was queued) that fails again is given up on: retries
 * outlast an outage of up to that long, however many attempts it takes.
 */
export interface RetrySchedule {
  firstDelayMs: number;
  maxDelayMs: number;
  giveUpAfterMs: number;
}

export type RetrySchedules = Record<Destination['type'], RetrySchedule>;

const S = 1000;
const M = 60 * S;
const H = 60 * M;

/** Pagers and chat want a page soon or not at all; email and webhooks may arrive late and still be read. */
export const DEFAULT_RETRY_SCHEDULES: RetrySchedules = {
  pagerduty: { firstDelayMs: 15 * S, maxDelayMs: 10 * M, giveUpAfterMs: H },
  slack: { firstDelayMs: 15 * S, maxDelayMs: 10 * M, giveUpAfterMs: H },
  teams: { firstDelayMs: 15 * S, maxDelayMs: 10 * M, giveUpAfterMs: H },
  email: { firstDelayMs: 30 * S, maxDelayMs: 15 * M, giveUpAfterMs: 6 * H },
  webhook: { firstDelayMs: 30 * S, maxDelayMs: H, giveUpAfterMs: 24 * H },
};

/** Longest wait between two attempts (the outbox stores it as int milliseconds). */
export const MAX_RETRY_DELAY_MS = 24 * H;
/** Longest a delivery may stay pending. */
export const MAX_GIVE_UP_MS = 30 * 24 * H;

const UNITS: Record<string, number> = { ms: 1, s: S, m: M, h: H, d: 24 * H };

/** A problem with a retry setting; reads as the problem alone (parseConfig names the variable). */
export class RetryScheduleError extends Error {
  override readonly name = 'RetryScheduleError';
  override toString(): string {
    return this.message;
  }
}

/** `500ms`, `15s`, `10m`, `1h`, `2d` in milliseconds; throws RetryScheduleError otherwise. */
export function parseDuration(raw: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(raw.trim());
  if (!m)
    throw new RetryScheduleError(`"${raw.trim()}" is not a duration (a whole number and ms, s, m, h or d)`);
  return Number(m[1]) * UNITS[m[2]];
}

/** A duration as the settings write it: `15s`, `10m`, `1h`, `24h`, `2d`, `1500ms`. */
export function formatDuration(ms: number): string {
  const unit = (['d', 'h', 'm', 's'] as const).find(
    (u) => ms % UNITS[u] === 0 && ms >= (u === 'd' ? 2 : 1) * UNITS[u],
  );
  return unit ? `${ms / UNITS[unit]}${unit}` : `${ms}ms`;
}

/**
 * `<first retry>,<longest delay>,<give up after>`, e.g. `15s,10m,1h`: the backoff of the first retry, the longest wait
 * between attempts (and the most of a Retry-After honoured), and the age at which a failing delivery is given up.
 */
export function parseRetrySchedule(raw: string): RetrySchedule {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.length !== 3)
    throw new RetryScheduleError(
      `"${raw}" is not <first retry>,<longest delay>,<give up after> (durations such as 15s,10m,1h)`,
    );
  const [firstDelayMs, maxDelayMs, giveUpAfterMs] = parts.map(parseDuration);
  if (firstDelayMs <= 0)
    throw new RetryScheduleError(`the first retry (${parts[0]}) must be after more than 0`);
  if (maxDelayMs < firstDelayMs)
    throw new RetryScheduleError(
      `the longest delay (${parts[1]}) must not be shorter than the first retry (${parts[0]})`,
    );
  if (maxDelayMs > MAX_RETRY_DELAY_MS)
    throw new RetryScheduleError(
      `the longest delay (${parts[1]}) must be at most ${formatDuration(MAX_RETRY_DELAY_MS)}`,
    );
  if (giveUpAfterMs <= 0) throw new RetryScheduleError(`give up after (${parts[2]}) must be more than 0`);
  if (giveUpAfterMs > MAX_GIVE_UP_MS)
    throw new RetryScheduleError(
      `give up after (${parts[2]}) must be at most ${formatDuration(MAX_GIVE_UP_MS)}`,
    );
  return { firstDelayMs, maxDelayMs, giveUpAfterMs };
}

export function formatRetrySchedule(s: RetrySchedule): string {
  return [s.firstDelayMs, s.maxDelayMs, s.giveUpAfterMs].map(formatDuration).join(',');
}

/** Retry-After as seconds or an HTTP date, in ms from now; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export type RetryDecision = { kind: 'retry'; delayMs: number } | { kind: 'give_up'; error: string };

/**
 * After attempt `attempt` (1 for the first) of a delivery `ageMs` old failed and may be retried: when to try again, or
 * to give up because the delivery is older than the schedule allows. Retry-After (capped at the longest delay) wins
 * over the backoff; no wait reaches past the give-up age, so the last attempt is made at it.
 */
export function nextAttempt(
  attempt: number,
  ageMs: number,
  retryAfter: string | null,
  schedule: RetrySchedule,
  now = Date.now(),
  random: () => number = Math.random,
): RetryDecision {
  const left = schedule.giveUpAfterMs - ageMs;
  if (left <= 0)
    return {
      kind: 'give_up',
      error: `gave up after ${formatDuration(schedule.giveUpAfterMs)} (${Math.max(1, attempt)} attempts)`,
    };
  const asked = retryAfterMs(retryAfter, now);
  const backoff = Math.min(schedule.maxDelayMs, schedule.firstDelayMs * 2 ** Math.max(0, attempt - 1));
  const delayMs = asked !== null ? Math.min(asked, schedule.maxDelayMs) : Math.round(random() * backoff);
  return { kind: 'retry', delayMs: Math.min(delayMs, Math.ceil(left)) };
}
