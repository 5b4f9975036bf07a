import { HttpException } from '@nestjs/common';
import { API_SCHEMAS, type JsonSchema } from './body-schemas';
import { BodyValidator, bodyDoc, validateBody } from './validate-body.pipe';

function refusal(fn: () => unknown): { status: number; body: unknown } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof HttpException)) throw err;
    return { status: err.getStatus(), body: err.getResponse() };
  }
  throw new Error('expected a refusal');
}

const settings = {
  zscore_threshold: 2.5,
  baseline_days: 14,
  min_history_days: 7,
  quality_threshold: 0.8,
  timezone: 'Europe/London',
  budgets: [
    { scope: 'team', period: 'day', amount: 50, currency: 'USD' },
    { scope: 'agent', agent_id: 'research-agent', period: 'month', amount: 400, currency: 'USD' },
    { scope: 'customer', customer_id: 'acme', period: 'month', amount: 0.5, currency: 'GBP' },
  ],
  rules: {
    spend_zscore: { min_excess: 0.25 },
    cost_per_run_jump: { ratio: 2.5, enabled: true },
    cost_per_run_drift: { ratio: null },
    cost_per_success_climb: { enabled: false },
    session_outlier: { median_multiple: 4, min_cost: 0 },
    run_rate_loop: { norm_multiple: 8, min_runs_per_minute: 20 },
    child_run_loop: { norm_multiple: 8, min_children: 10 },
    unattributed_spend: { share: 0.3, min_amount: 1 },
    unpriced_model: { enabled: false },
    prompt_creep: { ratio: 1.2, min_runs: 20, enabled: true },
  },
};
const route = {
  team: 'support',
  match: { agent_id: 'research-*', rule: ['budget'], severity: ['error', 'critical'] },
  destinations: [
    { type: 'webhook', url: 'https://example.com/hook', secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0' },
    { type: 'slack', webhook_url: 'https://hooks.slack.com/services/T0/B0/X' },
    { type: 'pagerduty', routing_key: 'a'.repeat(32) },
    { type: 'teams', webhook_url: 'https://example.webhook.office.com/x' },
    { type: 'email', to: ['oncall@example.com'] },
  ],
};
const override = {
  provider: 'selfhosted',
  match: { or: [{ equals: 'llama-3' }, { and: [{ starts_with: 'llama-3' }, { regex: '-instruct$' }] }] },
  input_per_mtok: 0.2,
  output_per_mtok: 0.6,
  cache_read_per_mtok: null,
  effective_from: '2026-06-01',
  effective_to: '2026-07-01T00:00:00Z',
  note: 'GPU cost\nper month',
};

describe(BodyValidator.name, () => {
  const sut = new BodyValidator();

  it.each([
    ['TeamSettingsBody', settings],
    ['TeamSettingsBody', {}],
    [
      'AgentSettingsBody',
      { zscore_threshold: 4, baseline_days: 7, min_history_days: 3, rules: settings.rules },
    ],
    ['AgentSettingsBody', { zscore_threshold: null, baseline_days: null, min_history_days: null }],
    ['AgentSettingsBody', {}],
    ['ApiKeyCreateBody', { team: 'support', name: 'ci', role: 'admin' }],
    ['RouteCreateBody', route],
    ['RouteCreateBody', { team: null, destinations: [{ type: 'email', to: ['a@b.c'] }] }],
    ['RateCardOverrideBody', override],
    ['RateCardOverrideBody', { provider: 'openai', match: { equals: 'gpt-4o' }, multiplier: 0.8 }],
  ] as const)('accepts a valid %s and hands it over unchanged', (name, body) => {
    const before = JSON.stringify(body);
    expect(sut.parse(name, body)).toBe(body);
    expect(JSON.stringify(body)).toBe(before);
  });

  it('refuses a time zone given as a list (it was stored as {"Europe/London"}) with 400 naming timezone', () => {
    expect(refusal(() => sut.parse('TeamSettingsBody', { timezone: ['Europe/London'] }))).toEqual({
      status: 400,
      body: {
        error: {
          code: 'bad_request',
          message:
            'invalid request body: timezone must be an IANA time zone name (a string) such as Europe/London',
          details: [
            { field: 'timezone', message: 'must be an IANA time zone name (a string) such as Europe/London' },
          ],
        },
      },
    });
  });

  it.each([
    [{ timezone: 'Mars/Olympus' }, 'timezone'],
    [{ timezone: '+01:00' }, 'timezone'],
    [{ baseline_days: 15 }, 'baseline_days'],
    [{ baseline_days: 2 }, 'baseline_days'],
    [{ baseline_days: 7.5 }, 'baseline_days'],
    [{ baseline_days: '7' }, 'baseline_days'],
    [{ min_history_days: 0 }, 'min_history_days'],
    [{ zscore_threshold: 11 }, 'zscore_threshold'],
    [{ quality_threshold: 1.1 }, 'quality_threshold'],
    [{ quality_threshold: null }, 'quality_threshold'],
    [{ budgets: {} }, 'budgets'],
    [{ budgets: [{ scope: 'team', period: 'week', amount: 1, currency: 'USD' }] }, 'budgets[0].period'],
    [{ budgets: [{ scope: 'team', period: 'day', amount: 0, currency: 'USD' }] }, 'budgets[0].amount'],
    [{ budgets: [{ scope: 'team', period: 'day', amount: 1e7, currency: 'USD' }] }, 'budgets[0].amount'],
    [{ budgets: [{ scope: 'team', period: 'day', amount: 1, currency: 'usd' }] }, 'budgets[0].currency'],
    [{ budgets: [{ scope: 'agent', period: 'day', amount: 1, currency: 'USD' }] }, 'budgets[0].agent_id'],
    [
      { budgets: [{ scope: 'team', agent_id: 'x', period: 'day', amount: 1, currency: 'USD' }] },
      'budgets[0].agent_id',
    ],
    [{ budgets: [{ scope: 'planet', period: 'day', amount: 1, currency: 'USD' }] }, 'budgets[0].scope'],
    [{ budgets: [{ period: 'day', amount: 1, currency: 'USD' }] }, 'budgets[0].scope'],
    [{ budgets: ['team'] }, 'budgets[0]'],
    [{ colour: 'red' }, 'colour'],
    [{ rules: { cost_per_run_jump: { ratio: 1 } } }, 'rules.cost_per_run_jump.ratio'],
    [{ rules: { cost_per_run_jump: { ratio: '3' } } }, 'rules.cost_per_run_jump.ratio'],
    [{ rules: { spend_zscore: { min_excess: -1 } } }, 'rules.spend_zscore.min_excess'],
    [{ rules: { spend_zscore: { min_excess: 1e6 } } }, 'rules.spend_zscore.min_excess'],
    [{ rules: { run_rate_loop: { min_runs_per_minute: 2.5 } } }, 'rules.run_rate_loop.min_runs_per_minute'],
    [{ rules: { unattributed_spend: { share: 1.5 } } }, 'rules.unattributed_spend.share'],
    [{ rules: { prompt_creep: { enabled: 'no' } } }, 'rules.prompt_creep.enabled'],
    [{ rules: { unpriced_model: { ratio: 2 } } }, 'rules.unpriced_model.ratio'],
    [{ rules: { budget: { enabled: false } } }, 'rules.budget'],
    [{ rules: { cost_per_run_jump: null } }, 'rules.cost_per_run_jump'],
  ])('refuses settings %j, naming %s', (body, field) => {
    expect(sut.problems('TeamSettingsBody', body).map((p) => p.field)).toEqual([field]);
  });

  it.each([
    [{ zscore_threshold: 0.1 }, 'zscore_threshold'],
    [{ baseline_days: 15 }, 'baseline_days'],
    [{ min_history_days: '3' }, 'min_history_days'],
    [{ rules: { cost_per_run_jump: { ratio: 1 } } }, 'rules.cost_per_run_jump.ratio'],
    [{ rules: { budget: { enabled: false } } }, 'rules.budget'],
    [{ timezone: 'Europe/London' }, 'timezone'],
    [{ quality_threshold: 0.5 }, 'quality_threshold'],
    [{ budgets: [] }, 'budgets'],
    [{ colour: 'red' }, 'colour'],
  ])('refuses agent settings %j, naming %s', (body, field) => {
    expect(sut.problems('AgentSettingsBody', body).map((p) => p.field)).toEqual([field]);
  });

  it('says an agent’s own value is removed by null', () => {
    const rules = API_SCHEMAS.AgentRules.properties!.cost_per_run_jump.properties!;
    expect(rules.ratio.description).toMatch(/null removes the agent’s value: the team’s applies again$/);
    expect(rules.enabled.description).toMatch(/null removes the agent’s value: the team’s applies again$/);
    expect(API_SCHEMAS.AgentSettingsBody.properties!.baseline_days).toMatchObject({
      minimum: 3,
      maximum: 14,
      nullable: true,
    });
  });

  it('says why baseline_days stops at 14', () => {
    expect(sut.problems('TeamSettingsBody', { baseline_days: 30 })).toEqual([
      {
        field: 'baseline_days',
        message:
          'must be an integer from 3 to 14: the aggregator keeps at most 14 days of history (its default MAX_BASELINE_DAYS)',
      },
    ]);
  });

  it('refuses __proto__, constructor and prototype keys anywhere, and pollutes nothing', () => {
    const body: unknown = JSON.parse(
      '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "prototype": 1,' +
        ' "budgets": [{"scope": "team", "period": "day", "amount": 1, "currency": "USD", "__proto__": {"polluted": true}}]}',
    );
    expect(sut.problems('TeamSettingsBody', body)).toEqual([
      { field: 'budgets[0].__proto__', message: 'is not a known field' },
      { field: '__proto__', message: 'is not a known field' },
      { field: 'constructor', message: 'is not a known field' },
      { field: 'prototype', message: 'is not a known field' },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(
      sut.problems('RouteCreateBody', JSON.parse('{"destinations": [], "match": {"__proto__": {}}}')),
    ).toEqual([
      { field: 'match.__proto__', message: 'is not a known field' },
      { field: 'destinations', message: 'must not be empty' },
    ]);
  });

  it('refuses control characters, NUL included, and over-long strings', () => {
    expect(sut.problems('ApiKeyCreateBody', { team: 'support', name: 'ci\u0000' })).toEqual([
      { field: 'name', message: 'must not contain control characters' },
    ]);
    expect(sut.problems('ApiKeyCreateBody', { team: 'support', name: 'a\u009Bb' })).toEqual([
      { field: 'name', message: 'must not contain control characters' },
    ]);
    expect(sut.problems('ApiKeyCreateBody', { team: 'support', name: 'x'.repeat(201) })).toEqual([
      { field: 'name', message: 'must not have more than 200 characters' },
    ]);
    expect(sut.problems('ApiKeyCreateBody', { team: 'support', name: '\uD800' })).toHaveLength(1);
    expect(sut.problems('ApiKeyCreateBody', { team: 'support', name: 'café 🚀' })).toEqual([]);
  });

  it('bounds lists', () => {
    const budget = { scope: 'team', period: 'day', amount: 1, currency: 'USD' };
    expect(sut.problems('TeamSettingsBody', { budgets: Array.from({ length: 101 }, () => budget) })).toEqual([
      { field: 'budgets', message: 'must not have more than 100 items' },
    ]);
  });

  it('names every problem, in the order of the schema’s fields', () => {
    expect(sut.problems('ApiKeyCreateBody', { team: 'has spaces', role: 'root' })).toEqual([
      { field: 'team', message: 'must be 1-64 letters, digits, ".", "_" or "-"' },
      { field: 'name', message: 'is required' },
      { field: 'role', message: 'must be one of team, admin' },
    ]);
    expect(sut.problems('ApiKeyCreateBody', null)).toEqual([
      { field: '(body)', message: 'must be a JSON object' },
    ]);
  });

  it('checks each destination of a route against its own type', () => {
    expect(
      sut.problems('RouteCreateBody', {
        match: { agent: 'research-*', severity: ['loud'] },
        destinations: [
          { type: 'slack' },
          { type: 'fax', number: '1' },
          { type: 'pagerduty', routing_key: 'short' },
          { type: 'email', to: ['nope'] },
          { type: 'webhook', url: 'https://example.com', secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0', extra: 1 },
        ],
      }),
    ).toEqual([
      { field: 'match.agent', message: 'is not a known field' },
      { field: 'match.severity[0]', message: 'must be one of info, warning, error, critical' },
      { field: 'destinations[0].webhook_url', message: 'is required' },
      { field: 'destinations[1].type', message: 'must be one of webhook, slack, pagerduty, teams, email' },
      { field: 'destinations[2].routing_key', message: 'must be a 32-character PagerDuty integration key' },
      { field: 'destinations[3].to[0]', message: 'must be an email address' },
      { field: 'destinations[4].extra', message: 'is not a known field' },
    ]);
  });

  it('checks a rate-card override’s match, instants and numbers', () => {
    expect(
      sut.problems('RateCardOverrideBody', {
        provider: '',
        match: { equals: 'a', regex: 'b' },
        effective_from: 'yesterday',
        input_per_mtok: -1,
        output_per_mtok: '0.6',
        multiplier: 0,
      }),
    ).toEqual([
      { field: 'provider', message: 'must not be empty' },
      {
        field: 'match',
        message:
          'must be an object with exactly one of equals, starts_with, ends_with, contains, regex, and, or',
      },
      {
        field: 'effective_from',
        message: 'must be an ISO-8601 date or instant, e.g. 2026-06-01 or 2026-06-01T00:00:00Z',
      },
      { field: 'input_per_mtok', message: 'must be >= 0' },
      { field: 'output_per_mtok', message: 'must be a number' },
      { field: 'multiplier', message: 'must be a number above 0 and at most 10' },
    ]);
    const tooDeep = { provider: 'p', multiplier: 1, match: { and: [{ or: [{ and: [{ equals: 'x' }] }] }] } };
    expect(sut.problems('RateCardOverrideBody', tooDeep)).toEqual([
      { field: 'match.and[0].or[0].and', message: 'is not a known field' },
    ]);
  });

  it('is the pipe behind validateBody, and the schema behind bodyDoc', () => {
    const body = { team: 'support', name: 'ci' };
    expect(validateBody('ApiKeyCreateBody').transform(body, { type: 'body' })).toBe(body);
    expect(refusal(() => validateBody('ApiKeyCreateBody').transform({}, { type: 'body' })).status).toBe(400);
    expect(bodyDoc('TeamSettingsBody')).toEqual({
      required: true,
      schema: { $ref: '#/components/schemas/TeamSettingsBody' },
    });
  });
});

/** The Schema Object keywords of OpenAPI 3.0 (spec.openapis.org/oas/3.0/schema) that ajv also enforces alike. */
const OPENAPI_30_KEYWORDS = new Set([
  'type',
  'description',
  'nullable',
  'properties',
  'required',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'enum',
  'anyOf',
  'oneOf',
  'discriminator',
  '$ref',
]);

function* walk(schema: JsonSchema, at: string): Generator<[string, JsonSchema]> {
  yield [at, schema];
  for (const [name, s] of Object.entries(schema.properties ?? {})) yield* walk(s, `${at}.${name}`);
  if (schema.items) yield* walk(schema.items, `${at}[]`);
  for (const [i, s] of (schema.anyOf ?? []).entries()) yield* walk(s, `${at}/anyOf/${i}`);
  for (const [i, s] of (schema.oneOf ?? []).entries()) yield* walk(s, `${at}/oneOf/${i}`);
}

describe('API_SCHEMAS', () => {
  const all = Object.entries(API_SCHEMAS).flatMap(([name, s]) => [...walk(s, name)]);

  it('use only OpenAPI 3.0 Schema Object keywords (and x- extensions), so /docs stays a valid document', () => {
    const foreign = all.flatMap(([at, s]) =>
      Object.keys(s)
        .filter((k) => !OPENAPI_30_KEYWORDS.has(k) && !k.startsWith('x-'))
        .map((k) => `${at}: ${k}`),
    );
    expect(foreign).toEqual([]);
  });

  it('refer only to schemas they publish', () => {
    const refs = all.flatMap(([, s]) => [
      ...(s.$ref ? [s.$ref] : []),
      ...Object.values(s.discriminator?.mapping ?? {}),
    ]);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs)
      expect(Object.keys(API_SCHEMAS)).toContain(ref.replace('#/components/schemas/', ''));
  });

  it('bound everything: closed objects, lists with maxItems, strings with maxLength, numbers with a range', () => {
    const unbounded = all.flatMap(([at, s]) => {
      if (s.$ref || s.oneOf) return [];
      const problems: string[] = [];
      if (s.type === 'object' && s.additionalProperties !== false) problems.push('open object');
      if (s.type === 'array' && s.maxItems === undefined) problems.push('no maxItems');
      if (s.type === 'string' && s.maxLength === undefined && !s.enum && !at.includes('/anyOf/'))
        problems.push('no maxLength');
      if (
        (s.type === 'number' || s.type === 'integer') &&
        (s.minimum === undefined || s.maximum === undefined)
      )
        problems.push('no range');
      return problems.map((p) => `${at}: ${p}`);
    });
    expect(unbounded).toEqual([]);
  });
});

describe('guard rules in TeamSettingsBody', () => {
  const sut = new BodyValidator();
  const rule = {
    id: 'loop-cap',
    action: 'block',
    match: { agent: 'loop-*', tool: 'search' },
    limit: { metric: 'runs', amount: 5, window_s: 60 },
  };

  it('accepts rules and budgets that block at 100%', () => {
    const body = {
      guard: {
        rules: [
          rule,
          { id: 'spend', action: 'alert', limit: { metric: 'cost', amount: 2.5, window_s: 3600 } },
        ],
      },
      budgets: [{ scope: 'team', period: 'day', amount: 50, currency: 'USD', block_at_100: true }],
    };
    expect(sut.problems('TeamSettingsBody', body)).toEqual([]);
  });

  it.each([
    [{ ...rule, id: 'has space' }, 'guard.rules[0].id'],
    [{ ...rule, action: 'throttle' }, 'guard.rules[0].action'],
    [{ ...rule, match: { agent: 'x', team: 'y' } }, 'guard.rules[0].match.team'],
    [{ ...rule, limit: { ...rule.limit, metric: 'tokens' } }, 'guard.rules[0].limit.metric'],
    [{ ...rule, limit: { ...rule.limit, amount: 0 } }, 'guard.rules[0].limit.amount'],
    [{ ...rule, limit: { ...rule.limit, window_s: 86_401 } }, 'guard.rules[0].limit.window_s'],
    [{ ...rule, limit: { ...rule.limit, window_s: 0 } }, 'guard.rules[0].limit.window_s'],
    [{ ...rule, limit: { ...rule.limit, window_s: 1.5 } }, 'guard.rules[0].limit.window_s'],
    [{ id: 'x', action: 'block' }, 'guard.rules[0].limit'],
  ])('refuses a bad rule with 400 naming the field: %j', (bad, field) => {
    expect(sut.problems('TeamSettingsBody', { guard: { rules: [bad] } }).map((p) => p.field)).toEqual([
      field,
    ]);
  });

  it('refuses more than 50 rules', () => {
    const rules = Array.from({ length: 51 }, (_, i) => ({ ...rule, id: `r${i}` }));
    expect(sut.problems('TeamSettingsBody', { guard: { rules } }).map((p) => p.field)).toEqual([
      'guard.rules',
    ]);
  });
});
