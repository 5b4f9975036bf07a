// @fastify/static (the /docs UI) requires content-disposition, which is ES modules only and jest loads CommonJS
jest.mock('content-disposition', () => ({ create: () => 'attachment' }));

import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { SchemaObject } from '@nestjs/swagger';
import { API_KEYS, type Principal } from '@libs/auth';
import { parseConfig } from '@libs/config';
import { PG_POOL } from '@libs/db';
import { createServiceApp } from '@libs/observability';
import { apiSpec } from './api.config';
import { MAX_BODY_BYTES, apiApp } from './api.module';
import { fits } from './http';

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required?: boolean;
  allowEmptyValue?: boolean;
  schema: SchemaObject;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: { $ref: string } }> };
  responses: Record<
    string,
    { content?: Record<string, { schema: unknown }>; headers?: Record<string, object> }
  >;
}
interface Endpoint {
  path: string;
  method: string;
  operation: Operation;
}

const KEYS: Record<string, Principal> = {
  admin: { keyId: 'k-admin', team: 'platform', role: 'admin' },
  support: { keyId: 'k-support', team: 'support', role: 'team' },
};
/** Bodies each schema takes, for the operations whose parameters are under test. */
const BODIES: Record<string, object> = {
  ApiKeyCreateBody: { team: 'support', name: 'ci' },
  RateCardOverrideBody: { provider: 'selfhosted', match: { equals: 'm' }, multiplier: 0.8 },
  RouteCreateBody: {
    team: 'billing',
    destinations: [{ type: 'email', to: ['oncall@example.com'] }],
  },
  TeamSettingsBody: {},
  AgentSettingsBody: {},
  BacktestBody: { team: 'billing', from: '2026-06-01', to: '2026-06-02' },
  GuardBlockBody: { team: 'billing', agent_id: 'triage', reason: 'runaway' },
};
/** Query parameters an operation needs with an admin key though a team key may leave them out. */
const ADMIN_QUERIES: Record<string, Record<string, string>> = {
  'GET /v1/guard': { team: 'billing' },
};

/** A value the schema takes: the first of its enum, its default, or a plain one that fits. */
function valid(schema: SchemaObject): string {
  if (schema.enum) return String(schema.enum[0]);
  if (schema.type === 'integer' || schema.type === 'number') return String(schema.default ?? schema.minimum);
  if (schema.anyOf) return '2026-06-01';
  const value = [
    'support',
    'USD',
    randomUUID(),
    '1767225600000.c3VwcG9ydA',
    '1767225600000.c3VwcG9ydA.YQ',
    '1767225600000.c3VwcG9ydA.YQ.Yg',
    'c3VwcG9ydA',
  ].find((v) => fits(schema, v));
  if (value === undefined) throw new Error(`no example for ${JSON.stringify(schema)}`);
  return value;
}

/** Values the schema refuses, each for one of its keywords. */
function invalid(schema: SchemaObject, where: Parameter['in']): string[] {
  const out: string[] = [];
  if (schema.enum) out.push('nope');
  if (schema.type === 'integer') out.push('x', '1.5');
  if (schema.type === 'number') out.push('x');
  if (schema.minimum !== undefined)
    out.push(String(schema.exclusiveMinimum ? schema.minimum : schema.minimum - 1));
  if (schema.maximum !== undefined) out.push(String(schema.maximum + 1));
  if (schema.type !== 'string') return out;
  // an empty path segment is a different path: no route, 404
  if (schema.minLength && where === 'query') out.push('');
  if (schema.maxLength !== undefined)
    out.push(
      schema.anyOf
        ? `2026-06-01T00:00:00.${'0'.repeat(schema.maxLength)}Z`
        : 'x'.repeat(schema.maxLength + 1),
    );
  if (schema.pattern)
    out.push(
      ['a\u0000b', 'a\u0085b', ' padded', 'usd', 'not-a-uuid', 'a b'].find(
        (v) => !fits(schema, v) && fits({ ...schema, pattern: undefined }, v),
      )!,
    );
  if (schema.anyOf) out.push('yesterday', '2026-06-01T00:00:00', '2026-13-01');
  return out;
}

/** Values at the edge of what the schema takes. */
function boundary(schema: SchemaObject): string[] {
  if (schema.type === 'integer' || schema.type === 'number')
    return [
      schema.exclusiveMinimum ? String(schema.minimum! + 0.001) : String(schema.minimum ?? 0),
      ...(schema.maximum !== undefined ? [String(schema.maximum)] : []),
    ];
  if (schema.enum) return schema.enum.map(String);
  if (schema.anyOf) return ['2026-06-01', '2026-06-01T00:00:00Z', '2026-06-01T01:00:00.5+01:00'];
  return [
    valid(schema),
    ...(schema.maxLength !== undefined && fits(schema, 'x') ? ['x'.repeat(schema.maxLength)] : []),
    ...(schema.pattern && fits(schema, 'team/agent v2 🚀') ? ['team/agent v2 🚀'] : []),
  ];
}

describe(apiApp.name, () => {
  let app: NestFastifyApplication;
  let doc: {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, object> };
  };
  let endpoints: Endpoint[];

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'fatal';
    const config = parseConfig(apiSpec, {
      RATE_LIMIT_PER_S: '0',
      RATE_LIMIT_UNAUTHENTICATED_PER_S: '1',
      RATE_LIMIT_UNAUTHENTICATED_BURST: '2',
      FX_RATES: 'USD:GBP=0.79,EUR:USD=1.08',
    });
    app = await createServiceApp(apiApp(config));
    // the database answers every query with no rows, through the pool or a client of it (transactions); keys are
    // known by name. No real connection is made: the spec must not depend on a database's state.
    const query = async () => ({ rows: [], rowCount: 0 });
    Object.assign(app.get(PG_POOL), { query, connect: async () => ({ query, release: () => undefined }) });
    Object.assign(app.get(API_KEYS), { verify: async (key: string) => KEYS[key] ?? null });
    await app.init();
    doc = (await call('GET', '/openapi.json')).json();
    endpoints = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
    );
  });

  afterAll(async () => {
    await app?.close();
  });

  let address = 0;
  /** A request from its own client address (X-Forwarded-For from loopback is believed), so no two share a limit. */
  function call(
    method: string,
    url: string,
    key?: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) {
    address++;
    return app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: method as 'GET',
        url,
        headers: {
          'x-forwarded-for': `10.${address >> 16}.${(address >> 8) & 255}.${address & 255}`,
          ...(key && { authorization: `Bearer ${key}` }),
          ...(body !== undefined && typeof body !== 'string' && { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body !== undefined && { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
  }

  /** A request to the endpoint with its required parameters and body, `values` instead of some of them. */
  function request(
    endpoint: Endpoint,
    key: string | undefined,
    values: Record<string, string | undefined> = {},
  ) {
    const parameters = endpoint.operation.parameters ?? [];
    const value = (p: Parameter) =>
      p.name in values ? values[p.name] : p.required ? valid(p.schema) : undefined;
    let path = endpoint.path;
    for (const p of parameters.filter((p) => p.in === 'path'))
      path = path.replace(`{${p.name}}`, encodeURIComponent(value(p)!));
    const query = new URLSearchParams();
    const needed = key === 'admin' ? (ADMIN_QUERIES[`${endpoint.method} ${endpoint.path}`] ?? {}) : {};
    for (const p of parameters.filter((p) => p.in === 'query')) {
      const v = p.name in values || !(p.name in needed) ? value(p) : needed[p.name];
      if (v !== undefined) query.set(p.name, v);
    }
    const schema = endpoint.operation.requestBody?.content['application/json'].schema.$ref.split('/').pop();
    return call(endpoint.method, query.size ? `${path}?${query}` : path, key, schema && BODIES[schema]);
  }

  const label = (e: Endpoint) => `${e.method} ${e.path}`;
  const documented = (e: Endpoint, status: number) =>
    Object.keys(e.operation.responses).includes(String(status));

  it('documents on every operation its success, 400, 401, 429 with Retry-After and 503, and 413 and 415 with a body', () => {
    expect(endpoints.length).toBeGreaterThan(25);
    for (const e of endpoints) {
      const statuses = Object.keys(e.operation.responses);
      const expected = ['400', '401', '429', '503', ...(e.operation.requestBody ? ['413', '415'] : [])];
      expect({ operation: label(e), missing: expected.filter((s) => !statuses.includes(s)) }).toEqual({
        operation: label(e),
        missing: [],
      });
      expect({ operation: label(e), success: statuses.some((s) => /^2/.test(s)) }).toEqual({
        operation: label(e),
        success: true,
      });
      for (const [status, response] of Object.entries(e.operation.responses))
        if (Number(status) >= 400)
          expect(response.content?.['application/json'].schema).toEqual({
            $ref: '#/components/schemas/ApiError',
          });
      expect(e.operation.responses['429'].headers).toMatchObject({ 'Retry-After': { required: true } });
    }
    expect(doc.components.schemas.ApiError).toMatchObject({ required: ['error'] });
  });

  it('publishes the constraints the handlers enforce on their parameters', () => {
    const parameter = (method: string, path: string, name: string) =>
      doc.paths[path][method].parameters!.find((p) => p.name === name)!;
    const uuid = { type: 'string', format: 'uuid' };
    const limit = (max: number, fallback: number) => ({
      required: false,
      allowEmptyValue: true,
      schema: { type: 'integer', minimum: 1, maximum: max, default: fallback },
    });
    const team = { type: 'string', minLength: 1, maxLength: 128, pattern: expect.any(String) };
    const agent = { type: 'string', minLength: 1, maxLength: 128, pattern: expect.any(String) };

    expect(parameter('delete', '/v1/api-keys/{id}', 'id').schema).toMatchObject(uuid);
    expect(parameter('delete', '/v1/routes/{id}', 'id').schema).toMatchObject(uuid);
    for (const path of [
      '/v1/anomalies',
      '/v1/incidents',
      '/v1/agent-stats',
      '/v1/alert-deliveries',
      '/v1/models/unpriced',
    ])
      expect(parameter('get', path, 'limit')).toMatchObject(limit(1000, 100));
    expect(parameter('get', '/v1/spend/top-customers', 'limit')).toMatchObject(limit(500, 50));
    expect(parameter('get', '/v1/teams/{team}/agents/settings', 'limit')).toMatchObject(limit(1000, 100));
    expect(parameter('get', '/v1/sessions/stats', 'agent_id')).toMatchObject({
      required: true,
      schema: agent,
    });
    expect(parameter('get', '/v1/anomalies', 'agent_id')).toMatchObject({ required: false, schema: agent });
    expect(parameter('get', '/v1/spend', 'currency').schema).toEqual({
      type: 'string',
      pattern: '^[A-Z]{3}$',
      enum: ['USD', 'EUR', 'GBP'],
    });
    expect(parameter('get', '/v1/spend', 'team')).toMatchObject({ required: false, schema: team });
    expect(parameter('put', '/v1/teams/{team}/settings', 'team')).toMatchObject({
      required: true,
      schema: team,
    });
    expect(parameter('get', '/v1/spend/top-customers', 'flag_factor').schema).toMatchObject({
      type: 'number',
      minimum: 1,
      exclusiveMinimum: true,
    });
    expect(parameter('get', '/v1/spend', 'from').schema).toMatchObject({
      maxLength: 40,
      anyOf: [{ format: 'date-time' }, { format: 'date' }],
    });
    for (const name of ['at', 'provider', 'model'])
      expect(parameter('get', '/v1/rate-card', name).required).toBe(false);
    expect(parameter('get', '/v1/api-keys', 'team').required).toBe(false);
    expect(parameter('get', '/v1/routes', 'team').required).toBe(false);
    expect(parameter('post', '/v1/routes/{id}/destinations/{index}/enable', 'index').schema).toEqual({
      type: 'integer',
      minimum: 0,
      maximum: 999,
    });
  });

  it('answers 401 to every operation without a key, or with an unknown one', async () => {
    for (const e of endpoints) {
      expect([label(e), (await request(e, undefined)).statusCode]).toEqual([label(e), 401]);
      expect([label(e), (await request(e, 'unknown')).statusCode]).toEqual([label(e), 401]);
    }
  });

  it('answers 400 to a value of a parameter its schema refuses, and to a missing required one', async () => {
    let cases = 0;
    for (const e of endpoints) {
      for (const p of e.operation.parameters ?? []) {
        const values = invalid(p.schema, p.in);
        if (p.required && p.in === 'query') values.push(undefined as unknown as string);
        for (const value of values) {
          const res = await request(e, 'admin', { [p.name]: value });
          expect({ operation: label(e), parameter: p.name, value, status: res.statusCode }).toEqual({
            operation: label(e),
            parameter: p.name,
            value,
            status: 400,
          });
          cases++;
        }
      }
      expect(documented(e, 400)).toBe(true);
    }
    expect(cases).toBeGreaterThan(150);
  });

  it('does not refuse as a bad request a value its schema takes, at the edges', async () => {
    for (const e of endpoints)
      for (const p of e.operation.parameters ?? [])
        for (const value of boundary(p.schema)) {
          const res = await request(e, 'admin', { [p.name]: value });
          const status = res.statusCode;
          // past validation, a handler may fail on the fake database's empty answers (a 500 here; against the real
          // stack the fuzzer holds every operation to no 5xx): what is checked is that the value is not refused
          const taken = status !== 400 && (status >= 500 || documented(e, status));
          expect({
            operation: label(e),
            parameter: p.name,
            value,
            answer: taken || `${status} ${res.body}`,
          }).toEqual({
            operation: label(e),
            parameter: p.name,
            value,
            answer: true,
          });
        }
  });

  it('answers 403 where it says a key may be refused, to a team key acting for another team', async () => {
    const refused = endpoints.filter((e) => documented(e, 403));
    expect(refused.length).toBeGreaterThan(15);
    for (const e of refused) {
      const names = (e.operation.parameters ?? []).map((p) => p.name);
      const res = await request(e, 'support', names.includes('team') ? { team: 'billing' } : {});
      expect([label(e), res.statusCode, res.json().error.code]).toEqual([label(e), 403, 'forbidden']);
    }
  });

  it('answers 404 where it says so, for something that does not exist', async () => {
    const missing = endpoints.filter((e) => documented(e, 404));
    expect(missing.map(label).sort()).toEqual([
      'DELETE /v1/api-keys/{id}',
      'DELETE /v1/guard/blocks/{id}',
      'DELETE /v1/rate-card/overrides/{id}',
      'DELETE /v1/routes/{id}',
      'DELETE /v1/teams/{team}/agents/{agent_id}/settings',
      'GET /v1/incidents/{id}',
      'GET /v1/rate-card',
      'GET /v1/runs/{run_id}/tree',
      'POST /v1/routes/{id}/destinations/{index}/enable',
    ]);
    for (const e of missing) {
      const res = await request(e, 'admin', e.path === '/v1/rate-card' ? { model: 'no-such-model' } : {});
      expect([label(e), res.statusCode]).toEqual([label(e), 404]);
    }
  });

  it('answers 413 to a body over its limit and 415 to one that is not JSON, on every operation with a body', async () => {
    const withBody = endpoints.filter((e) => e.operation.requestBody);
    expect(withBody.length).toBe(7);
    for (const e of withBody) {
      const path = e.path.replace('{team}', 'support').replace('{agent_id}', 'a').replace('{id}', 'o');
      const big = await call(e.method, path, 'admin', { pad: 'x'.repeat(MAX_BODY_BYTES) });
      expect([label(e), big.statusCode, big.json().error.code]).toEqual([label(e), 413, 'payload_too_large']);
      const text = await call(e.method, path, 'admin', '{}', { 'content-type': 'text/plain' });
      expect([label(e), text.statusCode, text.json().error.code]).toEqual([
        label(e),
        415,
        'unsupported_media_type',
      ]);
    }
  });

  it('answers 429 with Retry-After to an address that keeps presenting bad keys', async () => {
    const spend = { 'x-forwarded-for': '192.0.2.7' };
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 3; i++) {
      last = await call('GET', '/v1/spend?group_by=agent', 'unknown', undefined, spend);
      statuses.push(last.statusCode);
    }
    expect(statuses).toEqual([401, 401, 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(last!.json().error.code).toBe('too_many_requests');
  });

  it('answers 405 with the path’s methods in Allow to a method it does not declare, and 404 to an unknown path', async () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const declared = Object.keys(item).map((m) => m.toUpperCase());
      const allow = [...declared, ...(declared.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].sort().join(', ');
      const url = path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'index' ? '0' : 'x'));
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'].filter((m) => !declared.includes(m))) {
        const res = await call(method, url, 'admin');
        expect([method, path, res.statusCode, res.headers.allow]).toEqual([method, path, 405, allow]);
        expect(res.json().error.code).toBe('method_not_allowed');
      }
      const options = await call('OPTIONS', url);
      expect([path, options.statusCode, options.headers.allow]).toEqual([path, 204, allow]);
    }
    const unknown = await call('GET', '/v1/nothing-here', 'admin');
    expect([unknown.statusCode, unknown.json().error.code]).toEqual([404, 'not_found']);
    expect((await call('DELETE', '/v1/spend/extra', 'admin')).statusCode).toBe(404);
  });
});
