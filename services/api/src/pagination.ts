import { applyDecorators } from '@nestjs/common';
import type { SchemaObject } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { QueryParam, badRequest, fits } from './http';
import { LimitQuery, parseLimit, type Limit } from './time-range';

/**
 * Keyset pagination, the same on every list. A page is at most `limit` items in the list's order; when more follow,
 * the answer says where the next page starts — `next_cursor` in an object answer, and always a `Link: <…>; rel="next"`
 * header (RFC 8288) with the same query and that cursor. The cursor is the sort key of the page's last item: the
 * next page is what sorts after it, so an item added or removed between two requests neither repeats nor hides
 * another. Opaque to clients, but every string its pattern admits is a position in the order, so none is refused for
 * its content (only for its shape) and none reaches PostgreSQL as anything but a value.
 */

/**
 * A sort key's parts: an instant (epoch microseconds, in decimal: PostgreSQL keeps microseconds, and a cursor that
 * rounded them would repeat or skip rows) or text (base64url of its UTF-8).
 */
export type KeyPart = 'instant' | 'text';
export type KeyValue = number | string;

export interface Keyset {
  readonly parts: readonly KeyPart[];
}

const PART_MAX: Record<KeyPart, number> = { instant: 17, text: 1400 };
const PART_PATTERN: Record<KeyPart, string> = {
  instant: `[0-9]{1,${PART_MAX.instant}}`,
  text: `[A-Za-z0-9_-]{0,${PART_MAX.text}}`,
};

/** The cursor's schema, as /openapi.json publishes it and parseCursor enforces it. */
export function cursorSchema(keyset: Keyset): SchemaObject {
  return {
    type: 'string',
    pattern: `^${keyset.parts.map((p) => PART_PATTERN[p]).join('\\.')}$`,
    maxLength: keyset.parts.reduce((n, p) => n + PART_MAX[p], keyset.parts.length - 1),
  };
}

export function encodeCursor(keyset: Keyset, values: readonly KeyValue[]): string {
  return keyset.parts
    .map((p, i) =>
      p === 'instant'
        ? String(Math.trunc(Number(values[i])))
        : Buffer.from(String(values[i]), 'utf8').toString('base64url'),
    )
    .join('.');
}

/** The position a `cursor` parameter names, or null when absent (the first page); 400 when it is not shaped as one. */
export function parseCursor(keyset: Keyset, value: string | undefined): KeyValue[] | null {
  if (value === undefined || value === '') return null;
  if (!fits(cursorSchema(keyset), value))
    throw badRequest('cursor must be the next_cursor of an earlier page of this list', {
      parameter: 'cursor',
    });
  return value.split('.').map((part, i) =>
    keyset.parts[i] === 'instant'
      ? part
      : // PostgreSQL refuses U+0000 in text: a position without it sorts where the cursor meant
        Buffer.from(part, 'base64url').toString('utf8').replaceAll('\u0000', ''),
  );
}

/** SQL for an instant of a cursor passed as parameter $n (epoch microseconds, exact). */
export const cursorInstantSql = (n: number): string =>
  `('epoch'::timestamptz + $${n}::bigint * interval '1 microsecond')`;
/** SQL for a timestamptz column as the epoch microseconds a cursor holds (text, exact). */
export const epochMicros = (column: string): string =>
  `(extract(epoch from ${column}) * 1000000)::bigint::text`;

/** The page of `rows` (fetched with limit + 1) and the cursor of the next page, if there is one. */
export function pageOf<R>(
  rows: readonly R[],
  limit: number,
  keyset: Keyset,
  keyOf: (row: R) => readonly KeyValue[],
): { items: R[]; next_cursor: string | null } {
  if (rows.length <= limit) return { items: [...rows], next_cursor: null };
  const items = rows.slice(0, limit);
  return { items, next_cursor: encodeCursor(keyset, keyOf(items[items.length - 1])) };
}

/** The cursor of the page after the first `limit` of rows fetched with limit + 1, from their positions; null if none. */
export function nextCursor(
  keyset: Keyset,
  limit: number,
  positions: readonly (readonly KeyValue[])[],
): string | null {
  return positions.length > limit ? encodeCursor(keyset, positions[limit - 1]) : null;
}

/** The request's parameters for one page: how many, and after which position. */
export interface PageRequest {
  readonly limit: number;
  readonly after: KeyValue[] | null;
}

export function pageRequest(
  keyset: Keyset,
  limit: Limit,
  limitQ: string | undefined,
  cursorQ: string | undefined,
): PageRequest {
  return { limit: parseLimit('limit', limitQ, limit), after: parseCursor(keyset, cursorQ) };
}

/**
 * Sets `Link: <path?…&cursor=…>; rel="next"` when there is a next page: the request's own path and query with the
 * cursor replaced, so a client follows it as it is.
 */
export function linkNext(reply: FastifyReply, url: string, nextCursor: string | null): void {
  if (nextCursor === null) return;
  const parsed = new URL(url, 'http://burnrate.invalid');
  parsed.searchParams.set('cursor', nextCursor);
  reply.header('link', `<${parsed.pathname}${parsed.search}>; rel="next"`);
}

/** `limit` and `cursor` of a paginated list, and the Link header of its answer, in the OpenAPI document. */
export const PageQuery = (keyset: Keyset, limit: Limit): MethodDecorator =>
  applyDecorators(
    LimitQuery(limit),
    QueryParam('cursor', cursorSchema(keyset), {
      description:
        'Where the page starts: the `next_cursor` of the page before (absent: the first page). When a next page ' +
        'exists the answer also carries `Link: <…&cursor=…>; rel="next"`.',
      allowEmptyValue: true,
    }),
  );
