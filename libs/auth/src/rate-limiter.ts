export interface RateLimit {
  /** Tokens added per second: the sustained rate. 0 disables the limit. */
  perSecond: number;
  /** Most tokens a bucket holds: the largest burst. 0 disables the limit. */
  burst: number;
}

export type Decision = { allowed: true } | { allowed: false; retryAfterS: number };

interface Bucket {
  tokens: number;
  at: number;
}

const ALLOWED: Decision = { allowed: true };

/**
 * Token buckets by key (an API key's id, a client address), in this process's memory: with several replicas each
 * enforces the limit on its own, so a client spread over n replicas may reach n times the rate.
 *
 * Memory stays bounded: a bucket that has refilled to full is the same as no bucket and is dropped on the next sweep,
 * and beyond `maxKeys` the least recently used buckets are dropped (such a key starts again with a full burst).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private sweptAt: number;

  constructor(
    readonly limit: RateLimit,
    private readonly options: { maxKeys?: number; sweepEveryMs?: number; now?: () => number } = {},
  ) {
    this.sweptAt = this.now();
  }

  get enabled(): boolean {
    return this.limit.perSecond > 0 && this.limit.burst > 0;
  }

  /** Buckets held right now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes a token for `key` if it has one. */
  take(key: string): Decision {
    return this.decide(key, true);
  }

  /** Whether `key` has a token, without taking it. */
  peek(key: string): Decision {
    return this.decide(key, false);
  }

  private decide(key: string, consume: boolean): Decision {
    if (!this.enabled) return ALLOWED;
    const now = this.now();
    this.sweep(now);
    const bucket = this.refilled(this.buckets.get(key), now);
    if (bucket.tokens < 1) {
      this.remember(key, bucket);
      return {
        allowed: false,
        retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond)),
      };
    }
    if (consume) {
      bucket.tokens -= 1;
      this.remember(key, bucket);
    }
    return ALLOWED;
  }

  private refilled(bucket: Bucket | undefined, now: number): Bucket {
    if (!bucket) return { tokens: this.limit.burst, at: now };
    const elapsedS = Math.max(0, now - bucket.at) / 1000;
    return { tokens: Math.min(this.limit.burst, bucket.tokens + elapsedS * this.limit.perSecond), at: now };
  }

  /** Stores the bucket as the most recently used (a Map iterates in insertion order). */
  private remember(key: string, bucket: Bucket): void {
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    const maxKeys = this.options.maxKeys ?? 100_000;
    if (this.buckets.size > maxKeys) {
      for (const oldest of this.buckets.keys()) {
        this.buckets.delete(oldest);
        if (this.buckets.size <= maxKeys) break;
      }
    }
  }

  private sweep(now: number): void {
    if (now - this.sweptAt < (this.options.sweepEveryMs ?? 10_000)) return;
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets) {
      if (this.refilled(bucket, now).tokens >= this.limit.burst) this.buckets.delete(key);
    }
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
