import type { PipeTransform } from '@nestjs/common';
import type { ApiBodyOptions } from '@nestjs/swagger';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FieldError } from '@libs/contracts';
import { isTimeZone } from '@libs/team-settings';
import {
  API_SCHEMAS,
  PATTERN_MESSAGES,
  type BodySchemaName,
  type BodyTypes,
  type JsonSchema,
} from './body-schemas';
import { hasUnpairedSurrogate, invalidBody } from './http';

const COMPONENTS = '#/components/schemas/';
/** A 400 names at most this many problems; a body wrong everywhere needs no longer an answer. */
const MAX_PROBLEMS = 50;
const MAX_FIELD_LENGTH = 100;

/**
 * Request bodies checked against API_SCHEMAS, the very schemas /docs publishes: every error names its field, unknown
 * fields are refused, nothing is coerced or defaulted.
 */
export class BodyValidator {
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly schemas: Readonly<Record<string, JsonSchema>> = API_SCHEMAS) {
    this.ajv = new Ajv({
      allErrors: true,
      strict: true,
      useDefaults: false,
      coerceTypes: false,
      removeAdditional: false,
      ownProperties: true,
      discriminator: true,
      verbose: true,
    });
    addFormats(this.ajv, ['date', 'date-time']);
    this.ajv.addFormat('time-zone', { type: 'string', validate: (tz: string) => isTimeZone(tz) });
    this.ajv.addKeyword({ keyword: 'x-message', schemaType: 'string' });
    for (const [name, schema] of Object.entries(schemas)) this.ajv.addSchema(forAjv(schema), name);
    for (const name of Object.keys(schemas)) this.validators.set(name, this.ajv.getSchema(name)!);
  }

  /** Every problem of `body` against the named schema, in the order of the schema's fields; [] when valid. */
  problems(name: string, body: unknown): FieldError[] {
    const validate = this.validators.get(name);
    if (!validate) throw new Error(`no body schema ${name}`);
    const unpaired = unpairedSurrogates(body);
    if (unpaired.length) return unpaired;
    if (validate(body)) return [];
    const errors = validate.errors ?? [];
    const composite = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
    const seen = new Set<string>();
    const out: FieldError[] = [];
    for (const e of errors) {
      if (composite.some((c) => c !== e && e.schemaPath.startsWith(`${c.schemaPath}/`))) continue;
      const problem = problemOf(e);
      const key = `${problem.field}\u0000${problem.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(problem);
    }
    const order = Object.keys(this.schemas[name].properties ?? {});
    const rank = (p: FieldError) => {
      const i = order.indexOf(p.field.split(/[.[]/)[0]);
      return i === -1 ? order.length : i;
    };
    return out.sort((a, b) => rank(a) - rank(b)).slice(0, MAX_PROBLEMS);
  }

  /** The body, typed, or a 400 in the api's error shape naming each bad field. */
  parse<N extends BodySchemaName>(name: N, body: unknown): BodyTypes[N] {
    const problems = this.problems(name, body);
    if (problems.length) throw invalidBody(problems);
    return body as BodyTypes[N];
  }
}

/**
 * Fields (and keys) whose strings hold an unpaired UTF-16 surrogate: not valid Unicode, so not storable anywhere. The
 * published patterns cannot say it (see NOT_CONTROL in body-schemas.ts), so it is checked here, before the schema.
 */
function unpairedSurrogates(value: unknown, path = ''): FieldError[] {
  const field = path || '(body)';
  if (typeof value === 'string')
    return !hasUnpairedSurrogate(value) ? [] : [{ field, message: 'must not contain unpaired surrogates' }];
  if (Array.isArray(value))
    return value.flatMap((v, i) => unpairedSurrogates(v, `${path}[${i}]`)).slice(0, MAX_PROBLEMS);
  if (value === null || typeof value !== 'object') return [];
  const out: FieldError[] = [];
  for (const [k, v] of Object.entries(value)) {
    const at = path ? `${path}.${k}` : k;
    if (hasUnpairedSurrogate(k)) out.push({ field: at, message: 'must not contain unpaired surrogates' });
    else out.push(...unpairedSurrogates(v, at));
    if (out.length >= MAX_PROBLEMS) break;
  }
  return out;
}

let shared: BodyValidator | undefined;

/** The process's validator, compiled on first use. */
export function bodyValidator(): BodyValidator {
  return (shared ??= new BodyValidator());
}

/** `@Body(validateBody('TeamSettingsBody'))`: the handler receives a body valid against that schema, or never runs. */
export function validateBody<N extends BodySchemaName>(name: N): PipeTransform<unknown, BodyTypes[N]> {
  return { transform: (value: unknown) => bodyValidator().parse(name, value) };
}

/** `@ApiBody(bodyDoc('TeamSettingsBody'))`: the operation's requestBody is the same schema, by reference. */
export function bodyDoc(name: BodySchemaName, description?: string): ApiBodyOptions {
  return { required: true, schema: { $ref: `${COMPONENTS}${name}` }, ...(description && { description }) };
}

/** The schema as ajv reads it: components referenced by name, and no discriminator mapping (OpenAPI-only). */
function forAjv(schema: JsonSchema): JsonSchema {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema) as [keyof JsonSchema, unknown][]) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith(COMPONENTS))
      out[k] = v.slice(COMPONENTS.length);
    else if (k === 'discriminator') out[k] = { propertyName: (v as { propertyName: string }).propertyName };
    else if (k === 'properties')
      out[k] = Object.fromEntries(
        Object.entries(v as Record<string, JsonSchema>).map(([p, s]) => [p, forAjv(s)]),
      );
    else if (k === 'items') out[k] = forAjv(v as JsonSchema);
    else if (k === 'anyOf' || k === 'oneOf') out[k] = (v as JsonSchema[]).map(forAjv);
    else out[k] = v;
  }
  return out as JsonSchema;
}

function problemOf(e: ErrorObject): FieldError {
  const at = fieldOf(e.instancePath);
  const schema = e.parentSchema as JsonSchema | undefined;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { field: join(at, String(params.missingProperty)), message: 'is required' };
    case 'additionalProperties':
      return { field: join(at, String(params.additionalProperty)), message: 'is not a known field' };
    case 'discriminator':
      return {
        field: join(at, String(params.tag)),
        message: params.tagValue === undefined ? 'is required' : (schema?.['x-message'] ?? 'is not valid'),
      };
  }
  // a tagged union's message is about its tag; its other failures (not an object) speak for themselves
  const own = schema?.discriminator ? undefined : schema?.['x-message'];
  const field = at || '(body)';
  if (own) return { field, message: own };
  switch (e.keyword) {
    case 'type':
      return { field, message: `must be ${article(String(params.type))}` };
    case 'pattern':
      return {
        field,
        message: PATTERN_MESSAGES[String(params.pattern)] ?? 'has characters that are not allowed',
      };
    case 'enum':
      return { field, message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}` };
    case 'minLength':
    case 'minItems':
      if (params.limit === 1) return { field, message: 'must not be empty' };
      break;
    case 'format':
      return { field, message: `must be a valid ${String(params.format)}` };
  }
  return { field, message: (e.message ?? 'is not valid').replace('must NOT', 'must not') };
}

function fieldOf(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = /^\d+$/.test(segment) ? `${out}[${segment}]` : join(out, segment);
  }
  return out;
}

function join(at: string, key: string): string {
  const k = key.length > MAX_FIELD_LENGTH ? `${key.slice(0, MAX_FIELD_LENGTH)}…` : key;
  return at ? `${at}.${k}` : k;
}

function article(type: string): string {
  return type === 'object' ? 'a JSON object' : /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}
