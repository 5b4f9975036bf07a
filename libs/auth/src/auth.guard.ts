import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  Optional,
  createParamDecorator,
} from '@nestjs/common';
import type { Principal } from './api-key';
import type { Decision, RateLimiter } from './rate-limiter';
import { REQUEST_LIMITS, RequestLimits } from './request-limits';

export const API_KEYS = Symbol.for('burnrate.api-keys');

interface AuthedRequest {
  headers: Record<string, string | string[] | undefined>;
  /** The client's address (Fastify's request.ip). */
  ip?: string;
  principal?: Principal;
}

export function apiError(
  status: number,
  code: string,
  message: string,
  details?: unknown,
  headers?: Record<string, string>,
): HttpException {
  const err = new HttpException({ error: { code, message, details: details ?? null } }, status);
  if (headers) Object.assign(err, { headers });
  return err;
}

/** Verifies presented keys; ApiKeyRepository in production. */
export interface KeyVerifier {
  verify(key: string): Promise<Principal | null>;
}

/**
 * Bearer API keys: missing or unknown key 401; key store unreachable 503. Scoping by team (403) is the handler's job,
 * with the principal (see scopeTeam). The key itself is never logged or echoed.
 *
 * Rate limits (429 with Retry-After): each key has its token bucket, taken after the key is verified; a client
 * address that keeps presenting no key or a bad one is refused before its key is looked up, so guessing cannot load
 * the key store.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly limits: RequestLimits;

  constructor(
    @Inject(API_KEYS) private readonly keys: KeyVerifier,
    @Optional() @Inject(REQUEST_LIMITS) limits?: RequestLimits,
  ) {
    this.limits = limits ?? RequestLimits.none();
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const address = request.ip ?? 'unknown';
    refuseIfLimited(
      this.limits.perAddress,
      this.limits.perAddress.peek(address),
      'client address without a valid API key',
    );
    const header = request.headers.authorization;
    const value = Array.isArray(header) ? header[0] : header;
    if (!value || !/^Bearer\s+/i.test(value)) {
      this.limits.perAddress.take(address);
      throw apiError(401, 'unauthenticated', 'missing API key: send "Authorization: Bearer <key>"');
    }
    let principal: Principal | null;
    try {
      principal = await this.keys.verify(value.replace(/^Bearer\s+/i, '').trim());
    } catch {
      throw apiError(503, 'unavailable', 'API keys cannot be checked right now; retry shortly', null, {
        'Retry-After': '5',
      });
    }
    if (!principal) {
      this.limits.perAddress.take(address);
      throw apiError(401, 'unauthenticated', 'unknown or revoked API key');
    }
    refuseIfLimited(this.limits.perKey, this.limits.perKey.take(principal.keyId), 'API key');
    request.principal = principal;
    return true;
  }
}

function refuseIfLimited(limiter: RateLimiter, decision: Decision, per: string): void {
  if (decision.allowed) return;
  const { perSecond, burst } = limiter.limit;
  throw apiError(
    429,
    'too_many_requests',
    `too many requests: at most ${perSecond} per second per ${per} (bursts of ${burst}); retry after ${decision.retryAfterS} s`,
    { limit_per_s: perSecond, burst, retry_after_s: decision.retryAfterS },
    { 'Retry-After': String(decision.retryAfterS) },
  );
}

export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal => {
    const principal = context.switchToHttp().getRequest<AuthedRequest>().principal;
    if (!principal) throw apiError(401, 'unauthenticated', 'no API key');
    return principal;
  },
);

/** The team a request may act for: a team key its own team only; an admin key any team it names. */
export function scopeTeam(principal: Principal, requested: string | null | undefined): string | null {
  if (principal.role === 'admin') return requested ?? null;
  if (requested && requested !== principal.team) {
    throw apiError(
      403,
      'forbidden',
      `this API key belongs to team "${principal.team}" and cannot act for team "${requested}"`,
    );
  }
  return principal.team;
}
