import { int, type ConfigOf } from '@libs/config';
import { RateLimiter } from './rate-limiter';

/** The settings of a service that authenticates with ApiKeyGuard; spread into its config spec. */
export const rateLimitSpec = {
  /** Requests per second one API key may make to this replica (sustained); 0 disables the limit. */
  RATE_LIMIT_PER_S: int(200, { min: 0 }),
  /** Requests one API key may make at once before the sustained rate applies; 0 disables the limit. */
  RATE_LIMIT_BURST: int(400, { min: 0 }),
  /** Requests per second without a valid key (missing, unknown, revoked) one client address may make; 0 disables. */
  RATE_LIMIT_UNAUTHENTICATED_PER_S: int(5, { min: 0 }),
  /** Burst of such requests per client address; 0 disables. */
  RATE_LIMIT_UNAUTHENTICATED_BURST: int(30, { min: 0 }),
};

export type RateLimitConfig = ConfigOf<typeof rateLimitSpec>;

/** Injection token of the RequestLimits ApiKeyGuard enforces. */
export const REQUEST_LIMITS = Symbol.for('burnrate.request-limits');

/** The token buckets ApiKeyGuard enforces: one per API key, and one per client address for failed attempts. */
export class RequestLimits {
  constructor(
    readonly perKey: RateLimiter,
    readonly perAddress: RateLimiter,
  ) {}

  /** Missing settings (a service whose spec lacks rateLimitSpec) take the spec's defaults. */
  static fromConfig(config: Partial<RateLimitConfig>, now?: () => number): RequestLimits {
    const value = <K extends keyof RateLimitConfig>(name: K): number =>
      config[name] ?? rateLimitSpec[name].parse(undefined, name);
    return new RequestLimits(
      new RateLimiter(
        { perSecond: value('RATE_LIMIT_PER_S'), burst: value('RATE_LIMIT_BURST') },
        { maxKeys: 100_000, now },
      ),
      new RateLimiter(
        {
          perSecond: value('RATE_LIMIT_UNAUTHENTICATED_PER_S'),
          burst: value('RATE_LIMIT_UNAUTHENTICATED_BURST'),
        },
        { maxKeys: 20_000, now },
      ),
    );
  }

  static none(): RequestLimits {
    return RequestLimits.fromConfig({
      RATE_LIMIT_PER_S: 0,
      RATE_LIMIT_BURST: 0,
      RATE_LIMIT_UNAUTHENTICATED_PER_S: 0,
      RATE_LIMIT_UNAUTHENTICATED_BURST: 0,
    });
  }
}
