import { HttpException } from '@nestjs/common';
import { ApiParam, ApiQuery, type SchemaObject } from '@nestjs/swagger';
import addFormats from 'ajv-formats';
import type { ApiKeyInfo, Principal, Role } from '@libs/auth';
import { RUN_LIMITS, type FieldError } from '@libs/contracts';
import { CURRENCY, ID, NO_CONTROL, instant } from './body-schemas';

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

// ------------------------------------------------------------------------------------------------ parameters
// Each parameter's schema is what /openapi.json publishes and what its check enforces: the check reads the schema.

const patterns = new Map<string, RegExp>();
/** With the `u` flag a paired surrogate is one astral code point, so \p{Cs} finds only the unpaired ones. */
const UNPAIRED_SURROGATE = /\p{Cs}/u;
export const hasUnpairedSurrogate = (s: string): boolean => UNPAIRED_SURROGATE.test(s);
/**
 * Whether `value` meets a string schema as ajv judges a body's string (lengths in code points, patterns by code point)
 * and is well-formed Unicode (no unpaired surrogate), as BodyValidator also requires.
 */
export function fits(schema: SchemaObject, value: string): boolean {
  if (hasUnpairedSurrogate(value)) return false;
  const length = [...value].length;
  if (length < (schema.minLength ?? 0) || length > (schema.maxLength ?? Infinity)) return false;
  if (schema.pattern === undefined) return true;
  let pattern = patterns.get(schema.pattern);
  if (!pattern) patterns.set(schema.pattern, (pattern = new RegExp(schema.pattern, 'u')));
  return pattern.test(value);
}

/** A team named in a path or a query: printable, 1-128 characters (PostgreSQL refuses U+0000 in text). */
export const TEAM: SchemaObject = { type: 'string', minLength: 1, maxLength: 128, pattern: NO_CONTROL };

export function teamParam(team: string): string {
  if (!fits(TEAM, team))
    throw badRequest('team must be 1-128 characters without control characters', { parameter: 'team' });
  return team;
}

/**
 * An agent or run named in a path or a query, taken as the run contract takes a run's agent_id and run_id: at most
 * RUN_LIMITS.maxIdLength characters (code points, as the contract counts them), no control characters or unpaired
 * surrogates, no white space at either end. Any agent or run that was sent can be named, and nothing else.
 */
export const RUN_ID: SchemaObject = {
  type: 'string',
  minLength: 1,
  maxLength: RUN_LIMITS.maxIdLength,
  pattern: ID,
};

export function idParam(name: string, id: string): string {
  if (!fits(RUN_ID, id))
    throw badRequest(
      `${name} must be 1-${RUN_LIMITS.maxIdLength} characters without control characters or white space at either end`,
      { parameter: name },
    );
  return id;
}

export const agentParam = (agentId: string): string => idParam('agent_id', agentId);

export const UUID_PATTERN = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

/** The id of an API key or of a route made through the api. */
export const UUID: SchemaObject = { type: 'string', format: 'uuid', pattern: `^${UUID_PATTERN}$` };

export function uuidParam(name: string, id: string, what: string): string {
  if (!fits(UUID, id)) throw badRequest(`${name} must be ${what} (a uuid)`, { parameter: name });
  return id;
}

/** Free text that names something stored (a rule, an anomaly, an incident): no control characters. */
export const TEXT: SchemaObject = { type: 'string', pattern: NO_CONTROL };

export function textParam(name: string, value: string): string {
  if (!fits(TEXT, value))
    throw badRequest(`${name} must not contain control characters`, { parameter: name });
  return value;
}

/** A reporting currency: an ISO 4217 code (converted at the rates of FX_RATES; the served document lists them). */
export const CURRENCY_CODE: SchemaObject = { type: 'string', pattern: CURRENCY };

/** An instant of a query: an ISO-8601 date or instant exactly as a body takes one (an RFC 3339 date or date-time). */
export const INSTANT: SchemaObject = instant('ISO-8601 date or instant');

const isDate = dateFormat('date');
const isDateTime = dateFormat('date-time');

function dateFormat(name: 'date' | 'date-time'): (value: string) => boolean {
  const format = addFormats.get(name) as { validate: (value: string) => boolean };
  return (value) => format.validate(value);
}

/** The OpenAPI description of a path parameter, with the schema its check enforces. */
export const PathParam = (name: string, schema: SchemaObject, description?: string): MethodDecorator =>
  ApiParam({ name, schema, ...(description && { description }) });

/**
 * The OpenAPI description of a query parameter, optional unless `required`, with the schema its check enforces.
 * `allowEmptyValue`: its parser takes an empty value (`?limit=`) as no value.
 */
export const QueryParam = (
  name: string,
  schema: SchemaObject,
  options: { description?: string; required?: boolean; allowEmptyValue?: boolean } = {},
): MethodDecorator => ApiQuery({ name, schema, required: false, ...options });

/** `team`: a team key reads its own team (another is 403); an admin key the one named, or every team. */
export const TeamQuery = (
  description = 'A team key: its own team (another is 403); an admin key: the team, or every team',
): MethodDecorator => QueryParam('team', TEAM, { description });

export function requireAdmin(principal: Principal): void {
  if (principal.role !== 'admin') throw forbidden('this needs an admin API key');
}

/** The team a request reads: its own for a team key (another is 403); for an admin, the one named, or all (null). */
export function teamScope(principal: Principal, requested: string | undefined): string | null {
  if (requested !== undefined) teamParam(requested);
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

/** An INSTANT query parameter in epoch milliseconds; `fallback` when it is absent or empty. */
export function parseInstant(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const ms = Date.parse(value);
  if (!fits(INSTANT, value) || !(isDate(value) || isDateTime(value)) || Number.isNaN(ms)) {
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

/** The reporting-currency rates an operator configures (FX_RATES), parsed once at start-up. */
export interface ExchangeRates {
  /** `FROM:TO` → the rate, both ways. */
  readonly rates: ReadonlyMap<string, number>;
  /** Every currency a report can be asked in: the rate card's (USD) first, then each side of each configured rate. */
  readonly currencies: readonly string[];
}

/** FX_RATES, e.g. "USD:GBP=0.79,USD:EUR=0.92". Throws naming the entry that is not like that. */
export function fxRates(env: string | undefined): ExchangeRates {
  const rates = new Map<string, number>();
  const currencies = new Set(['USD']);
  for (const part of (env ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([A-Z]{3}):([A-Z]{3})=([0-9]*\.?[0-9]+)$/.exec(part);
    if (!m || Number(m[3]) <= 0) throw new Error(`FX_RATES entry "${part}" is not like USD:GBP=0.79`);
    rates.set(`${m[1]}:${m[2]}`, Number(m[3]));
    rates.set(`${m[2]}:${m[1]}`, 1 / Number(m[3]));
    currencies.add(m[1]).add(m[2]);
  }
  return { rates, currencies: ['USD', ...[...currencies].filter((c) => c !== 'USD').sort()] };
}

/** The `currency` query parameters of an OpenAPI document take exactly the configured currencies. */
export function currencyEnum(document: { paths?: object }, fx: ExchangeRates): void {
  for (const item of Object.values(document.paths ?? {}) as Record<string, { parameters?: unknown[] }>[])
    for (const op of Object.values(item))
      for (const p of (op.parameters ?? []) as {
        name?: string;
        in?: string;
        schema?: Record<string, unknown>;
      }[])
        if (p.in === 'query' && p.name === 'currency' && p.schema) p.schema.enum = [...fx.currencies];
}

/**
 * Money in the rate card's currency, or converted to a reporting currency at the configured rate (exactly:
 * nano-units times the rate in millionths, rounded half up).
 */
export function moneyIn(target: string | undefined, fx: ExchangeRates) {
  const { rates } = fx;
  if (target !== undefined && !fits(CURRENCY_CODE, target))
    throw badRequest('currency must be an ISO 4217 code like GBP', { parameter: 'currency', value: target });
  if (target !== undefined && !fx.currencies.includes(target)) {
    throw badRequest(
      `no exchange rate to ${target} is configured (FX_RATES): one of ${fx.currencies.join(', ')}`,
      {
        parameter: 'currency',
        value: target,
      },
    );
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
