import { RUN_STATUSES, type FieldError, type RunEvent } from './run';

/** Limits of the public run contract (documented in docs/producers.md and the OpenAPI page). */
export const RUN_LIMITS = {
  maxTokens: 100_000_000,
  maxIdLength: 128,
  maxModelLength: 200,
  maxDimensionLength: 256,
  maxTags: 32,
  maxTagKeyLength: 64,
  maxTagValueLength: 256,
  /** finished_at may be at most this far ahead of the server clock (clock skew). */
  maxFutureSkewMs: 5 * 60 * 1000,
  /** Nothing before 2020-01-01: a zero or a seconds-for-milliseconds mistake, not a real run. */
  minTime: Date.UTC(2020, 0, 1),
} as const;

/**
 * The patterns of tenant strings, as published in the OpenAPI documents (the api's and ingestion's) and enforced by
 * both. No control characters (C0, DEL, C1): PostgreSQL refuses U+0000 outright. Unpaired surrogates are refused too,
 * but by a check of their own: a surrogate range in a published pattern makes clients' regex engines (Rust's regex,
 * which schemathesis uses) discard the whole pattern.
 */
const NOT_CONTROL = '\\u0000-\\u001F\\u007F-\\u009F';
/** What String.prototype.trim removes, less the control characters NOT_CONTROL refuses anyway. */
const WHITE_SPACE = ' \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF';
export const STRING_PATTERNS = {
  /** Any text without control characters. */
  noControl: `^[^${NOT_CONTROL}]*$`,
  /** As noControl, not empty, and no white space at either end: an id (run_id, agent_id, model) as runs carry it. */
  id: `^([^${NOT_CONTROL}${WHITE_SPACE}]|[^${NOT_CONTROL}${WHITE_SPACE}][^${NOT_CONTROL}]*[^${NOT_CONTROL}${WHITE_SPACE}])$`,
  /** The control characters of noControl, for a character class. */
  notControl: NOT_CONTROL,
} as const;

export type ValidationResult =
  { ok: true; run: RunEvent } | { ok: false; errors: FieldError[]; run_id: string | null };

/**
 * Characters no run string may hold: Unicode's control characters (Cc: U+0000-U+001F, U+007F-U+009F) and, with the
 * `u` flag matching by code point, unpaired UTF-16 surrogates (Cs: a paired one is part of an astral character).
 * PostgreSQL refuses U+0000 in text and jsonb, and unpaired surrogates are not valid UTF-8 anywhere.
 */
const UNSAFE_CHARACTER = /[\p{Cc}\p{Cs}]/u;
const UNSAFE_CHARACTERS = /[\p{Cc}\p{Cs}]/gu;

/** True when `s` holds a control character or an unpaired surrogate: what no tenant string may hold, anywhere. */
export const hasUnsafeCharacter = (s: string): boolean => UNSAFE_CHARACTER.test(s);
/** Tag keys that name Object.prototype's own machinery: refused so tags are safe as a plain object anywhere. */
const RESERVED_TAG_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const OPTIONAL_DIMENSIONS = [
  'customer_id',
  'feature',
  'cost_centre',
  'session_id',
  'tool',
  'parent_run_id',
] as const;
const TOKEN_FIELDS = ['input_tokens', 'output_tokens'] as const;
const OPTIONAL_TOKEN_FIELDS = ['cache_read_tokens', 'cache_write_tokens', 'cache_write_1h_tokens'] as const;

type Json = Record<string, unknown>;
type TimeReader = (value: unknown, field: string, errors: FieldError[]) => number | null;

/** ISO-8601 instants with a zone, as the HTTP API takes them. */
const isoTime: TimeReader = (value, field, errors) => {
  if (value === undefined || value === null) {
    errors.push({ field, message: 'is required' });
    return null;
  }
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) {
    errors.push({
      field,
      message: 'must be an ISO-8601 instant with a time zone, e.g. 2026-06-09T09:14:05Z',
    });
    return null;
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    errors.push({ field, message: `is not a valid date: ${value}` });
    return null;
  }
  return ms;
};

/** Epoch milliseconds, as runs decoded from Avro carry them. */
const epochTime: TimeReader = (value, field, errors) => {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    errors.push({ field, message: 'must be epoch milliseconds' });
    return null;
  }
  return value;
};

/**
 * The run contract's rules, shared by ingestion (JSON over HTTP) and pricing (Avro straight onto Kafka). Hand-written
 * checks: this runs for every run at tens of thousands per second. Every failing field is reported, not just the
 * first. `team` is what the caller is authorised for (HTTP: from the API key), or null to take the run's own.
 */
function validate(
  input: unknown,
  readTime: TimeReader,
  now: number,
  source: string | null,
): ValidationResult {
  const errors: FieldError[] = [];
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, run_id: null, errors: [{ field: '(run)', message: 'must be a JSON object' }] };
  }
  const o = input as Json;
  const run_id = requiredString(o, 'run_id', RUN_LIMITS.maxIdLength, errors);
  const agent_id = requiredString(o, 'agent_id', RUN_LIMITS.maxIdLength, errors);
  const model = requiredString(o, 'model', RUN_LIMITS.maxModelLength, errors);
  const provider = optionalString(o, 'provider', 64, errors);
  const team = optionalString(o, 'team', RUN_LIMITS.maxIdLength, errors);

  const tokens: Record<string, number | null> = {};
  for (const f of TOKEN_FIELDS) tokens[f] = tokenCount(o[f], f, true, errors);
  for (const f of OPTIONAL_TOKEN_FIELDS) tokens[f] = tokenCount(o[f], f, false, errors);
  if (
    tokens.cache_write_1h_tokens !== null &&
    tokens.cache_write_tokens !== null &&
    tokens.cache_write_1h_tokens > tokens.cache_write_tokens
  ) {
    errors.push({
      field: 'cache_write_1h_tokens',
      message: 'cannot exceed cache_write_tokens (it is the 1-hour part of them)',
    });
  }
  if (tokens.cache_write_1h_tokens !== null && tokens.cache_write_tokens === null) {
    errors.push({ field: 'cache_write_tokens', message: 'is required when cache_write_1h_tokens is given' });
  }

  const started_at = readTime(o.started_at, 'started_at', errors);
  const finished_at = readTime(o.finished_at, 'finished_at', errors);
  if (started_at !== null && started_at < RUN_LIMITS.minTime)
    errors.push({ field: 'started_at', message: 'is before 2020-01-01' });
  if (finished_at !== null && finished_at > now + RUN_LIMITS.maxFutureSkewMs) {
    errors.push({
      field: 'finished_at',
      message: `is more than ${RUN_LIMITS.maxFutureSkewMs / 60000} minutes in the future`,
    });
  }
  if (started_at !== null && finished_at !== null && finished_at < started_at) {
    errors.push({ field: 'finished_at', message: 'is before started_at' });
  }

  let status: RunEvent['status'] | null = null;
  if (o.status === undefined || o.status === null) errors.push({ field: 'status', message: 'is required' });
  else if (typeof o.status !== 'string' || !(RUN_STATUSES as readonly string[]).includes(o.status)) {
    errors.push({ field: 'status', message: `must be one of ${RUN_STATUSES.join(', ')}` });
  } else status = o.status as RunEvent['status'];

  const dims: Record<string, string | null> = {};
  for (const f of OPTIONAL_DIMENSIONS) dims[f] = optionalString(o, f, RUN_LIMITS.maxDimensionLength, errors);

  let quality_score: number | null = null;
  if (o.quality_score !== undefined && o.quality_score !== null) {
    if (
      typeof o.quality_score !== 'number' ||
      !Number.isFinite(o.quality_score) ||
      o.quality_score < 0 ||
      o.quality_score > 1
    ) {
      errors.push({ field: 'quality_score', message: 'must be a number from 0 to 1' });
    } else quality_score = o.quality_score;
  }

  const tags = readTags(o.tags, errors);
  const ownSource = typeof o.source === 'string' ? o.source : null;
  const sourceProblem = ownSource === null ? null : stringProblem(ownSource, Infinity);
  if (sourceProblem) errors.push({ field: 'source', message: sourceProblem });

  if (errors.length > 0) return { ok: false, errors, run_id: typeof o.run_id === 'string' ? o.run_id : null };
  return {
    ok: true,
    run: {
      run_id: run_id!,
      agent_id: agent_id!,
      team,
      model: model!,
      provider: provider ? provider.toLowerCase() : null,
      input_tokens: tokens.input_tokens!,
      output_tokens: tokens.output_tokens!,
      cache_read_tokens: tokens.cache_read_tokens,
      cache_write_tokens: tokens.cache_write_tokens,
      cache_write_1h_tokens: tokens.cache_write_1h_tokens,
      started_at: started_at!,
      finished_at: finished_at!,
      status: status!,
      customer_id: dims.customer_id,
      feature: dims.feature,
      cost_centre: dims.cost_centre,
      session_id: dims.session_id,
      tool: dims.tool,
      parent_run_id: dims.parent_run_id,
      quality_score,
      tags,
      received_at: typeof o.received_at === 'number' ? o.received_at : null,
      source: ownSource ?? source,
    },
  };
}

/** A run as JSON over HTTP (ISO-8601 times). */
export function validateRunJson(input: unknown, now: number = Date.now()): ValidationResult {
  const result = validate(input, isoTime, now, 'http');
  if (result.ok) result.run.received_at = now;
  return result;
}

/** A run decoded from Avro (epoch-millisecond times), e.g. published straight onto burnrate.runs.raw.v1. */
export function validateRunEvent(input: unknown, now: number = Date.now()): ValidationResult {
  return validate(input, epochTime, now, 'kafka');
}

function requiredString(o: Json, field: string, max: number, errors: FieldError[]): string | null {
  const v = o[field];
  if (v === undefined || v === null || v === '') {
    errors.push({ field, message: 'is required' });
    return null;
  }
  if (typeof v !== 'string') {
    errors.push({ field, message: 'must be a string' });
    return null;
  }
  const problem = stringProblem(v, max) ?? (v.trim() !== v ? 'must not start or end with white space' : null);
  if (problem) {
    errors.push({ field, message: problem });
    return null;
  }
  return v;
}

function optionalString(o: Json, field: string, max: number, errors: FieldError[]): string | null {
  const v = o[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') {
    errors.push({ field, message: 'must be a string or null' });
    return null;
  }
  const problem = stringProblem(v, max);
  if (problem) {
    errors.push({ field, message: problem });
    return null;
  }
  return v === '' ? null : v;
}

/**
 * What is wrong with a string of at most `max` characters (code points, as JSON Schema's maxLength counts them), or
 * null: one regex test for a good one. A string is never longer in code points than in UTF-16 units, so only one over
 * the limit in units is counted again.
 */
function stringProblem(v: string, max: number): string | null {
  if (v.length > max && codePoints(v) > max) return `must be at most ${max} characters`;
  if (!UNSAFE_CHARACTER.test(v)) return null;
  const index = v.search(UNSAFE_CHARACTER);
  const code = v.charCodeAt(index);
  const what = code >= 0xd800 && code <= 0xdfff ? 'unpaired surrogates' : 'control characters';
  return `must not contain ${what} (${codePoint(code)} at index ${index})`;
}

function codePoints(v: string): number {
  let n = 0;
  for (const _ of v) n++;
  return n;
}

const codePoint = (code: number): string => `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;

/** A tag key as a field name, its unsafe characters written as <U+XXXX> so that the error carries none of them. */
const tagField = (key: string): string =>
  `tags.${key.replace(UNSAFE_CHARACTERS, (c) => `<${codePoint(c.charCodeAt(0))}>`)}`;

function tokenCount(v: unknown, field: string, required: boolean, errors: FieldError[]): number | null {
  if (v === undefined || v === null) {
    if (required) errors.push({ field, message: 'is required' });
    return null;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    errors.push({ field, message: 'must be an integer' });
    return null;
  }
  if (v < 0) {
    errors.push({ field, message: 'must not be negative' });
    return null;
  }
  if (v > RUN_LIMITS.maxTokens) {
    errors.push({ field, message: `must be at most ${RUN_LIMITS.maxTokens}` });
    return null;
  }
  return v;
}

function readTags(v: unknown, errors: FieldError[]): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    errors.push({ field: 'tags', message: 'must be an object of string values' });
    return {};
  }
  const entries = Object.entries(v as Json);
  if (entries.length > RUN_LIMITS.maxTags) {
    errors.push({ field: 'tags', message: `must have at most ${RUN_LIMITS.maxTags} entries` });
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, val] of entries) {
    const keyProblem = RESERVED_TAG_KEYS.has(k)
      ? 'is not an allowed key'
      : k.length === 0 ||
          (k.length > RUN_LIMITS.maxTagKeyLength && codePoints(k) > RUN_LIMITS.maxTagKeyLength)
        ? `keys must be 1 to ${RUN_LIMITS.maxTagKeyLength} characters`
        : stringProblem(k, Infinity);
    if (keyProblem) {
      errors.push({ field: tagField(k), message: keyProblem });
      continue;
    }
    if (typeof val !== 'string') {
      errors.push({ field: `tags.${k}`, message: 'must be a string' });
      continue;
    }
    const valueProblem = stringProblem(val, RUN_LIMITS.maxTagValueLength);
    if (valueProblem) errors.push({ field: `tags.${k}`, message: valueProblem });
    else out[k] = val;
  }
  return out;
}
