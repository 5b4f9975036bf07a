import { applyDecorators } from '@nestjs/common';
import { INSTANT, QueryParam, badRequest, parseInstant } from './http';

const DAY = 86_400_000;

export interface TimeRange {
  from: number;
  to: number;
}

/**
 * [from, to) of a time-range query: `to` defaults to `defaultTo`, `from` to `defaultDays` before `to` (no more than
 * `maxDays`). 400 naming the parameter when from is not before to, or the range spans more than `maxDays`.
 */
export function parseRange(
  fromQ: string | undefined,
  toQ: string | undefined,
  options: { defaultDays: number; maxDays: number; defaultTo?: number },
): TimeRange {
  const to = parseInstant('to', toQ, options.defaultTo ?? Date.now());
  const from = parseInstant('from', fromQ, to - Math.min(options.defaultDays, options.maxDays) * DAY);
  if (from >= to) throw badRequest('from must be before to', { parameter: 'from' });
  if (to - from > options.maxDays * DAY) {
    throw badRequest(`the range from "from" to "to" may span at most ${options.maxDays} days`, {
      parameter: 'from',
      max_days: options.maxDays,
    });
  }
  return { from, to };
}

/** The `from` and `to` query parameters of parseRange, in the OpenAPI document. */
export const RangeQuery = (defaultDays: number, toDescription = 'ISO-8601; default now'): MethodDecorator =>
  applyDecorators(
    QueryParam('from', INSTANT, { description: fromDoc(defaultDays), allowEmptyValue: true }),
    QueryParam('to', INSTANT, { description: toDescription, allowEmptyValue: true }),
  );

/** How many rows a list answers when not asked (`fallback`), and at most (`max`). */
export interface Limit {
  fallback: number;
  max: number;
}

/** An optional integer query parameter within [1, limit.max]; limit.fallback when absent or empty. */
export function parseLimit(name: string, value: string | undefined, limit: Limit): number {
  if (value === undefined || value === '') return limit.fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > limit.max)
    throw badRequest(`${name} must be an integer from 1 to ${limit.max}`, { parameter: name, value });
  return n;
}

/** The `limit` query parameter of parseLimit, in the OpenAPI document. */
export const LimitQuery = (limit: Limit, name = 'limit'): MethodDecorator =>
  QueryParam(
    name,
    { type: 'integer', minimum: 1, maximum: limit.max, default: limit.fallback },
    { description: `1-${limit.max}, default ${limit.fallback}`, allowEmptyValue: true },
  );

/** OpenAPI description of a `from` parameter. */
export function fromDoc(defaultDays: number): string {
  return `ISO-8601; default ${defaultDays} days before \`to\`. Before \`to\`, by at most API_MAX_RANGE_DAYS (default 400) days`;
}
