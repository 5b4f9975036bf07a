import { HttpException, applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { ApiKeyInfo, Principal, Role } from '@libs/auth';
import { RUN_LIMITS, hasUnsafeCharacter, type FieldError } from '@libs/contracts';

export function badRequest(message: string, details: unknown = null): HttpException {
  return new HttpException({ error: { code: 'bad_request', message, details } }, 400);
}

/** A 400 for a request body: `details` lists every bad field, `message` says it in one line. */
export function invalidBody(problems: FieldError[]): HttpException {
  const said = problems.map((p) => `${p.field} ${p.message}`).join('; ');
  return badRequest(`invalid request body: ${said}`, problems);
}
export function notFound(message: string): HttpException {
  return new HttpException({ error: { code: 'not_found', message, details: null } }, 404);
}
export function forbidden(message: string): HttpException {
  return new HttpException({ error: { code: 'forbidden', message, details: null } }, 403);
}

/** A team named in a path: printable and at most 128 characters (PostgreSQL refuses U+0000 in text). */
export function teamParam(team: string): string {
  const characters = [...team].length;
  if (characters === 0 || characters > 128 || hasUnsafeCharacter(team))
    throw badRequest('team must be 1-128 characters without control characters', { parameter: 'team' });
  return team;
}

/**
 * An agent named in a path, taken as the run contract takes a run's agent_id (RUN_LIMITS.maxIdLength characters at
 * most, no control characters or unpaired surrogates, no white space at either end): any agent that sends runs can be
 * named, and nothing else.
 */
export function agentParam(agentId: string): string {
  if (
    agentId.length === 0 ||
    agentId.length > RUN_LIMITS.maxIdLength ||
    hasUnsafeCharacter(agentId) ||
    agentId.trim() !== agentId
  )
    throw badRequest(
      `agent_id must be 1-${RUN_LIMITS.maxIdLength} characters without control characters or white space at either end`,
      { parameter: 'agent_id' },
    );
  return agentId;
}

export function requireAdmin(principal: Principal): void {
  if (principal.role !== 'admin') throw forbidden('this needs an admin API key');
}

/** The team a request reads: its own for a team key (another is 403); for an admin, the one named, or all (null). */
export function teamScope(principal: Principal, requested: string | undefined): string | null {
  if (principal.role === 'admin') return requested ?? null;
  if (requested && requested !== principal.team) {
    throw forbidden(`this API key belongs to team "${principal.team}" and cannot read team "${requested}"`);
  }
  return principal.team;
}

/** The API keys a request may list: an admin's any (or the named team's); a team key only its own team's team keys. */
export function keyListScope(
  principal: Principal,
  requested: string | undefined,
): { team: string | undefined; role: Role | undefined } {
  const team = teamScope(principal, requested) ?? undefined;
  return principal.role === 'admin' ? { team, role: undefined } : { team, role: 'team' };
}

/** Whether a principal may see or revoke a key: an admin any; a team key only a team key of its own team. */
export function mayManageKey(principal: Principal, key: Pick<ApiKeyInfo, 'team' | 'role'>): boolean {
  return principal.role === 'admin' || (key.role === 'team' && key.team === principal.team);
}

/** Nano-units (integer string) to an exact decimal string: "12345678901" -> "12.345678901". */
export function nanosToDecimal(nanos: string | number | bigint): string {
  const n = BigInt(typeof nanos === 'string' ? nanos.split('.')[0] : nanos);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const whole = abs / 1_000_000_000n;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

export interface Money {
  amount: string;
  currency: string;
}

export function money(nanos: string | number | bigint, currency: string): Money {
  return { amount: nanosToDecimal(nanos), currency };
}

export function parseInstant(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw badRequest(`${name} must be an ISO-8601 date or instant, e.g. 2026-06-01 or 2026-06-01T00:00:00Z`, {
      parameter: name,
      value,
    });
  }
  return ms;
}

export function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback?: T,
): T {
  if (value === undefined || value === '') {
    if (fallback !== undefined) return fallback;
    throw badRequest(`${name} is required: one of ${allowed.join(', ')}`, { parameter: name });
  }
  if (!(allowed as readonly string[]).includes(value)) {
    throw badRequest(`${name} must be one of ${allowed.join(', ')}`, { parameter: name, value });
  }
  return value as T;
}

/** FX_RATES, e.g. "USD:GBP=0.79,USD:EUR=0.92": the reporting-currency rates an operator configures. */
export function fxRates(env: string | undefined = process.env.FX_RATES): Map<string, number> {
  const rates = new Map<string, number>();
  for (const part of (env ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([A-Z]{3}):([A-Z]{3})=([0-9]*\.?[0-9]+)$/.exec(part);
    if (!m) throw new Error(`FX_RATES entry "${part}" is not like USD:GBP=0.79`);
    rates.set(`${m[1]}:${m[2]}`, Number(m[3]));
    rates.set(`${m[2]}:${m[1]}`, 1 / Number(m[3]));
  }
  return rates;
}

/**
 * Money in the rate card's currency, or converted to a reporting currency at the configured rate (exactly:
 * nano-units times the rate in millionths, rounded half up).
 */
export function moneyIn(target: string | undefined, rates: Map<string, number> = fxRates()) {
  if (target !== undefined && !/^[A-Z]{3}$/.test(target))
    throw badRequest('currency must be an ISO 4217 code like GBP', { parameter: 'currency', value: target });
  if (target !== undefined && target !== 'USD' && ![...rates.keys()].some((k) => k.endsWith(`:${target}`))) {
    throw badRequest(`no exchange rate to ${target} is configured (FX_RATES)`, {
      parameter: 'currency',
      value: target,
    });
  }
  return (nanos: string | number | bigint, currency: string): Money => {
    if (!target || target === currency) return money(nanos, currency);
    const rate = rates.get(`${currency}:${target}`);
    if (rate === undefined)
      throw badRequest(`no exchange rate from ${currency} to ${target} is configured (FX_RATES)`, {
        parameter: 'currency',
        value: target,
      });
    const n = BigInt(typeof nanos === 'string' ? nanos.split('.')[0] : nanos);
    return money((n * BigInt(Math.round(rate * 1e6)) + 500_000n) / 1_000_000n, target);
  };
}

/** The errors every query endpoint may answer, in the OpenAPI document. */
export const QueryErrorResponses = (): ClassDecorator & MethodDecorator =>
  applyDecorators(
    ApiResponse({ status: 400, description: 'A bad parameter, named in error.details.parameter' }),
    ApiResponse({
      status: 429,
      description: 'Over the rate limit of the API key; retry after Retry-After seconds',
    }),
    ApiResponse({
      status: 503,
      description: 'The query took longer than DB_STATEMENT_TIMEOUT_S and was cancelled',
    }),
  );
