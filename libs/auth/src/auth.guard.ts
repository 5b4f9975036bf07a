import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  createParamDecorator,
} from '@nestjs/common';
import type { Principal } from './api-key';

export const API_KEYS = Symbol.for('burnrate.api-keys');

interface AuthedRequest {
  headers: Record<string, string | string[] | undefined>;
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
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(API_KEYS) private readonly keys: KeyVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const header = request.headers.authorization;
    const value = Array.isArray(header) ? header[0] : header;
    if (!value || !/^Bearer\s+/i.test(value)) {
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
    if (!principal) throw apiError(401, 'unauthenticated', 'unknown or revoked API key');
    request.principal = principal;
    return true;
  }
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
