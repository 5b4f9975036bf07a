import type { Destination } from '@libs/alerting';
import { ROUTE_LIMITS } from '@libs/alerting';
import { RUN_LIMITS, SEVERITIES, STRING_PATTERNS } from '@libs/contracts';
import type { OverrideInput } from '@libs/pricing-core';
import {
  GUARD_ACTIONS,
  GUARD_ID,
  GUARD_LIMITS,
  GUARD_METRICS,
  SETTINGS_LIMITS,
  TEAM_RULES,
  type GuardRule,
  type RuleParam,
  type RulesBody,
} from '@libs/team-settings';

/**
 * A JSON Schema in the intersection of draft-07 (what ajv enforces) and OpenAPI 3.0's Schema Object (what /docs
 * publishes): so no `const`, no numeric exclusiveMinimum, no type lists (`nullable` instead), no $id. `x-message` is
 * what a 400 says of this value when it fails one of its own keywords (of a tagged union: when its tag is wrong).
 */
export interface JsonSchema {
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean';
  description?: string;
  nullable?: boolean;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: false;
  minProperties?: number;
  maxProperties?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  enum?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  discriminator?: { propertyName: string; mapping: Record<string, string> };
  $ref?: string;
  'x-message'?: string;
}

/** The contract's patterns (libs/contracts): no control characters; an id also not empty nor padded with white space. */
export const NO_CONTROL = STRING_PATTERNS.noControl;
export const ID = STRING_PATTERNS.id;
const NOT_CONTROL = STRING_PATTERNS.notControl;
/** As NO_CONTROL, but tab and line breaks are allowed (free text such as a note). */
const TEXT = '^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$';
const TEAM_NAME = '^[A-Za-z0-9._-]{1,64}$';
export const CURRENCY = '^[A-Z]{3}$';
const EMAIL = `^[^@\\s${NOT_CONTROL}]+@[^@\\s${NOT_CONTROL}]+$`;
const WEBHOOK_SECRET = '^whsec_[A-Za-z0-9+/=]{16,}$';
const PAGERDUTY_KEY = '^[A-Za-z0-9]{32}$';
/** Amounts are held in nano-units as exact integers, so at most 2^53 nano-units. */
const MAX_AMOUNT = 9_000_000;
/** $ per million tokens. */
const MAX_RATE = 1_000_000;

/** What a 400 says when a string does not match one of these patterns. */
export const PATTERN_MESSAGES: Readonly<Record<string, string>> = {
  [NO_CONTROL]: 'must not contain control characters',
  [TEXT]: 'must not contain control characters other than tab and line breaks',
  [TEAM_NAME]: 'must be 1-64 letters, digits, ".", "_" or "-"',
  [CURRENCY]: 'must be an ISO 4217 code like USD',
  [EMAIL]: 'must be an email address',
  [WEBHOOK_SECRET]: 'must be "whsec_" followed by a base64 key',
  [PAGERDUTY_KEY]: 'must be a 32-character PagerDuty integration key',
};

const text = (maxLength: number, minLength = 1, description?: string): JsonSchema => ({
  type: 'string',
  minLength,
  maxLength,
  pattern: NO_CONTROL,
  ...(description && { description }),
});
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const oneOfByTag = (tag: string, byValue: Record<string, string>, message: string): JsonSchema => ({
  type: 'object',
  oneOf: Object.values(byValue).map(ref),
  discriminator: {
    propertyName: tag,
    mapping: Object.fromEntries(
      Object.entries(byValue).map(([v, name]) => [v, `#/components/schemas/${name}`]),
    ),
  },
  'x-message': message,
});
const tag = (value: string): JsonSchema => ({ type: 'string', enum: [value] });

// ------------------------------------------------------------------------------------------------ api keys

export interface ApiKeyCreateBody {
  team: string;
  name: string;
  role?: 'team' | 'admin';
}

const ApiKeyCreateBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['team', 'name'],
  properties: {
    team: { type: 'string', maxLength: 64, pattern: TEAM_NAME, description: 'The team the key acts for' },
    name: text(200, 1, 'What the key is for, e.g. "ci"'),
    role: {
      type: 'string',
      enum: ['team', 'admin'],
      description: 'team (default): reads and changes its own team; admin: every team and the rate card',
    },
  },
};

// ---------------------------------------------------------------------------------------------- rate card

const MATCH_OPERATORS = ['equals', 'starts_with', 'ends_with', 'contains', 'regex'] as const;
/** Nesting of and/or in a match; deeper logic is refused rather than recursed into. */
export const MATCH_DEPTH = 3;

function matchSchema(depth: number): JsonSchema {
  const properties: Record<string, JsonSchema> = Object.fromEntries(
    MATCH_OPERATORS.map((op) => [op, text(op === 'regex' ? 256 : 200)]),
  );
  if (depth > 1)
    for (const op of ['and', 'or'])
      properties[op] = { type: 'array', minItems: 1, maxItems: 10, items: matchSchema(depth - 1) };
  const ops = Object.keys(properties).join(', ');
  return {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    properties,
    'x-message': `must be an object with exactly one of ${ops}`,
  };
}

const RateMatch: JsonSchema = {
  ...matchSchema(MATCH_DEPTH),
  description:
    'How the model name (without provider prefixes) is matched: one of equals, starts_with, ends_with, contains, ' +
    `regex, or and/or of a list of such (nested at most ${MATCH_DEPTH} deep)`,
};

/** An ISO-8601 date or instant (RFC 3339 `date` or `date-time`), in a body or, by parseInstant, a query. */
export const instant = (description: string, nullable = false): JsonSchema => ({
  type: 'string',
  maxLength: 40,
  anyOf: [
    { type: 'string', format: 'date-time', ...(nullable && { nullable }) },
    { type: 'string', format: 'date', ...(nullable && { nullable }) },
  ],
  ...(nullable && { nullable }),
  description,
  'x-message': 'must be an ISO-8601 date or instant, e.g. 2026-06-01 or 2026-06-01T00:00:00Z',
});
const rate = (description: string, nullable = false): JsonSchema => ({
  type: 'number',
  minimum: 0,
  maximum: MAX_RATE,
  ...(nullable && { nullable }),
  description,
});

const RateCardOverrideBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['provider', 'match'],
  description:
    'Give input_per_mtok and output_per_mtok, or multiplier to discount the dataset row of the model',
  properties: {
    provider: text(64, 1, 'e.g. openai, azure, selfhosted'),
    match: ref('RateMatch'),
    model_id: text(RUN_LIMITS.maxModelLength, 1, 'The model the row prices (default: the override id)'),
    effective_from: instant('In force for runs finished at or after this (default 2020-01-01)'),
    effective_to: instant('In force for runs finished before this (default: open-ended)', true),
    currency: { type: 'string', maxLength: 3, pattern: CURRENCY, description: 'Default USD' },
    input_per_mtok: rate('Per million input tokens'),
    output_per_mtok: rate('Per million output tokens'),
    cache_read_per_mtok: rate('Per million cache-read tokens', true),
    cache_write_per_mtok: rate('Per million cache-write tokens', true),
    cache_write_1h_per_mtok: rate('Per million 1-hour cache-write tokens', true),
    multiplier: {
      type: 'number',
      minimum: 0.000001,
      maximum: 10,
      nullable: true,
      description: 'Scales the dataset row of the matched model, e.g. 0.8 for a 20% discount',
      'x-message': 'must be a number above 0 and at most 10',
    },
    note: { type: 'string', maxLength: 1000, pattern: TEXT },
  },
};

// ------------------------------------------------------------------------------------------------- routes

export interface RouteCreateBody {
  team?: string | null;
  match?: { agent_id?: string; rule?: string[]; severity?: string[] };
  destinations: Destination[];
}

const url = (description: string): JsonSchema => text(ROUTE_LIMITS.url, 1, description);

const destination = (type: string, properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  required: ['type', ...Object.keys(properties)],
  properties: { type: tag(type), ...properties },
});

const DESTINATIONS: Record<string, [string, JsonSchema]> = {
  webhook: [
    'WebhookDestination',
    destination('webhook', {
      url: url('http(s) URL that receives a signed POST'),
      secret: { type: 'string', maxLength: ROUTE_LIMITS.secret, pattern: WEBHOOK_SECRET },
    }),
  ],
  slack: ['SlackDestination', destination('slack', { webhook_url: url('Slack incoming webhook URL') })],
  pagerduty: [
    'PagerDutyDestination',
    destination('pagerduty', { routing_key: { type: 'string', maxLength: 32, pattern: PAGERDUTY_KEY } }),
  ],
  teams: ['TeamsDestination', destination('teams', { webhook_url: url('Microsoft Teams webhook URL') })],
  email: [
    'EmailDestination',
    destination('email', {
      to: {
        type: 'array',
        minItems: 1,
        maxItems: ROUTE_LIMITS.emailRecipients,
        items: { type: 'string', maxLength: ROUTE_LIMITS.email, pattern: EMAIL },
      },
    }),
  ],
};

const RouteDestination = oneOfByTag(
  'type',
  Object.fromEntries(Object.entries(DESTINATIONS).map(([type, [name]]) => [type, name])),
  `must be one of ${Object.keys(DESTINATIONS).join(', ')}`,
);

const RouteCreateBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['destinations'],
  properties: {
    team: {
      ...text(
        ROUTE_LIMITS.team,
        1,
        'The team whose anomalies it routes; null or absent: every team (admin only)',
      ),
      nullable: true,
    },
    match: {
      type: 'object',
      additionalProperties: false,
      description: 'Every field given must match; an empty match is the team’s default route',
      properties: {
        agent_id: text(ROUTE_LIMITS.glob, 1, 'Glob on the agent id, e.g. "research-*"'),
        rule: {
          type: 'array',
          maxItems: ROUTE_LIMITS.listItems,
          items: text(ROUTE_LIMITS.listItem),
          description: 'Rule names, e.g. spend_zscore, budget',
        },
        severity: {
          type: 'array',
          maxItems: ROUTE_LIMITS.listItems,
          items: { type: 'string', enum: [...SEVERITIES] },
        },
      },
    },
    destinations: {
      type: 'array',
      minItems: 1,
      maxItems: ROUTE_LIMITS.destinations,
      items: ref('RouteDestination'),
    },
  },
};

// ---------------------------------------------------------------------------------------------- settings

interface BudgetBodyCommon {
  period: 'day' | 'month';
  amount: number;
  currency: string;
  block_at_100?: boolean;
}
export type BudgetBody =
  | ({ scope: 'team' } & BudgetBodyCommon)
  | ({ scope: 'agent'; agent_id: string } & BudgetBodyCommon)
  | ({ scope: 'customer'; customer_id: string } & BudgetBodyCommon);

export interface TeamSettingsBody {
  zscore_threshold?: number;
  baseline_days?: number;
  min_history_days?: number;
  quality_threshold?: number;
  late_after_minutes?: number | null;
  timezone?: string;
  budgets?: BudgetBody[];
  rules?: RulesBody;
  guard?: { rules: GuardRule[] };
}

const budget = (scope: string, subject: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  required: ['scope', ...Object.keys(subject), 'period', 'amount', 'currency'],
  properties: {
    scope: tag(scope),
    ...subject,
    period: {
      type: 'string',
      enum: ['day', 'month'],
      description: 'Calendar day or month in the team’s time zone',
    },
    amount: {
      type: 'number',
      minimum: 0.000000001,
      maximum: MAX_AMOUNT,
      description: 'In currency units, e.g. 50 for $50',
      'x-message': `must be a number above 0 and at most ${MAX_AMOUNT}`,
    },
    currency: { type: 'string', maxLength: 3, pattern: CURRENCY },
    block_at_100: {
      type: 'boolean',
      description:
        'true: at 100% the budget blocks its scope (GET /v1/guard answers block) until the period ends (default false)',
    },
  },
});

const BUDGETS: Record<string, [string, JsonSchema]> = {
  team: ['TeamBudget', budget('team', {})],
  agent: ['AgentBudget', budget('agent', { agent_id: text(RUN_LIMITS.maxIdLength) })],
  customer: ['CustomerBudget', budget('customer', { customer_id: text(RUN_LIMITS.maxDimensionLength) })],
};

const Budget = oneOfByTag(
  'scope',
  Object.fromEntries(Object.entries(BUDGETS).map(([scope, [name]]) => [scope, name])),
  `must be one of ${Object.keys(BUDGETS).join(', ')}`,
);

/** A rule parameter; `onNull` is what null does when it is not restoring the default (an agent's: the team's). */
const ruleParam = (p: RuleParam, onNull?: string): JsonSchema =>
  p.kind === 'boolean'
    ? {
        type: 'boolean',
        nullable: true,
        description: onNull ? `${p.description}; null ${onNull}` : p.description,
      }
    : {
        type: p.kind === 'integer' ? 'integer' : 'number',
        minimum: p.limits!.min,
        maximum: p.limits!.max,
        nullable: true,
        description: `${p.description}; from ${p.limits!.min} to ${p.limits!.max}; null ${onNull ?? 'restores the default'}`,
      };

/** Every tunable rule (TEAM_RULES) by name, each with its parameters. */
const rulesSchema = (description: string, onNull?: string): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  description,
  properties: Object.fromEntries(
    Object.entries(TEAM_RULES).map(([name, rule]) => [
      name,
      {
        type: 'object',
        additionalProperties: false,
        description: rule.description,
        properties: Object.fromEntries(
          Object.entries(rule.params).map(([k, p]) => [k, ruleParam(p, onNull)]),
        ),
      } satisfies JsonSchema,
    ]),
  ),
});

const TeamRules = rulesSchema(
  'Per rule (by the rule name of its anomalies), the parameters to change; the others keep what is stored. A ' +
    'value of null restores that parameter’s default; `enabled: false` switches the rule off for the team. Money ' +
    'floors are in currency units.',
);

const AgentRules = rulesSchema(
  'Per rule (by the rule name of its anomalies), the parameters this agent uses instead of its team’s; the others ' +
    'keep what is stored. A value of null removes the agent’s own value (the team’s applies again); ' +
    '`enabled: false` switches the rule off for this agent. Money floors are in currency units.',
  'removes the agent’s value: the team’s applies again',
);

const G = GUARD_LIMITS;
const GuardRuleSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'action', 'limit'],
  description:
    'Blocks (or only alerts on) an agent whose matching runs go over a limit within a sliding window of their ' +
    'finish times',
  properties: {
    id: {
      type: 'string',
      maxLength: G.idLength,
      pattern: GUARD_ID,
      description: 'Unique within the team: 1-64 letters, digits, ".", "_", ":" or "-"',
      'x-message': 'must be 1-64 letters, digits, ".", "_", ":" or "-"',
    },
    action: {
      type: 'string',
      enum: [...GUARD_ACTIONS],
      description: 'block: the guard refuses the agent until the window slides past; alert: an anomaly only',
    },
    match: {
      type: 'object',
      additionalProperties: false,
      description:
        'Every field given must match; an empty match takes every agent of the team and all its runs',
      properties: {
        agent: text(G.glob, 1, 'An agent_id, or a glob on it as in alert routes, e.g. "research-*"'),
        tool: text(G.dimension, 1, 'Only runs with this tool count'),
        customer: text(G.dimension, 1, 'Only runs for this customer_id count'),
      },
    },
    limit: {
      type: 'object',
      additionalProperties: false,
      required: ['metric', 'amount', 'window_s'],
      properties: {
        metric: {
          type: 'string',
          enum: [...GUARD_METRICS],
          description:
            'cost: priced spend in the team’s currency units; runs: runs; tool_calls: runs with a tool',
        },
        amount: {
          type: 'number',
          minimum: 0.000000001,
          maximum: G.amount.max,
          description: 'The limit: more than this within the window crosses it',
          'x-message': `must be a number above 0 and at most ${G.amount.max}`,
        },
        window_s: {
          type: 'integer',
          minimum: G.windowS.min,
          maximum: G.windowS.max,
          description: `The sliding window in seconds, ${G.windowS.min}-${G.windowS.max}`,
        },
      },
    },
  },
};

const TeamGuard: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  description: 'The team’s guard rules; when given, they replace the stored ones',
  properties: { rules: { type: 'array', maxItems: G.rules, items: ref('GuardRule') } },
};

const L = SETTINGS_LIMITS;
const TeamSettingsBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Only the fields given change; budgets, when given, replace the team’s budgets',
  properties: {
    zscore_threshold: {
      type: 'number',
      minimum: L.zscoreThreshold.min,
      maximum: L.zscoreThreshold.max,
      description: 'Standard deviations above the baseline mean that make a day’s spend anomalous',
    },
    baseline_days: {
      type: 'integer',
      minimum: L.baselineDays.min,
      maximum: L.baselineDays.max,
      description: `Days of history the baseline averages; at most ${L.baselineDays.max}, what the aggregator keeps by default`,
      'x-message':
        `must be an integer from ${L.baselineDays.min} to ${L.baselineDays.max}: the aggregator keeps at most ` +
        `${L.baselineDays.max} days of history (its default MAX_BASELINE_DAYS)`,
    },
    min_history_days: {
      type: 'integer',
      minimum: L.minHistoryDays.min,
      maximum: L.minHistoryDays.max,
      description: 'Days of history an agent needs before the z-score rule judges it; at most baseline_days',
    },
    quality_threshold: {
      type: 'number',
      minimum: L.qualityThreshold.min,
      maximum: L.qualityThreshold.max,
      description:
        'A run is successful when its status is success and its quality score (if any) is at least this',
    },
    late_after_minutes: {
      type: 'integer',
      nullable: true,
      minimum: L.lateAfterMinutes.min,
      maximum: L.lateAfterMinutes.max,
      description:
        'The late-data grace: a run that finished more than this many minutes before the newest run its partition ' +
        'has seen is late (counted in its day and baseline, never paged). Default 180; the aggregator applies at most ' +
        'its GRACE_MS (3 h). null restores the default',
    },
    timezone: {
      type: 'string',
      maxLength: L.timezoneLength,
      format: 'time-zone',
      description:
        'IANA time zone of the team’s days and months, e.g. Europe/London (any case and the tz database’s aliases ' +
        'are taken, and stored as the canonical name)',
      'x-message': 'must be an IANA time zone name (a string) such as Europe/London',
    },
    budgets: { type: 'array', maxItems: 100, items: ref('Budget') },
    rules: ref('TeamRules'),
    guard: ref('TeamGuard'),
  },
};

export interface AgentSettingsBody {
  zscore_threshold?: number | null;
  baseline_days?: number | null;
  min_history_days?: number | null;
  rules?: RulesBody;
}

/** A field of TeamSettingsBody, where null removes the agent's own value. */
const agentField = (name: 'zscore_threshold' | 'baseline_days' | 'min_history_days'): JsonSchema => {
  const team = TeamSettingsBody.properties![name];
  return {
    ...team,
    nullable: true,
    description: `${team.description}; null removes the agent’s own value (the team’s applies again)`,
  };
};

const AgentSettingsBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'One agent’s overrides of its team’s settings: only the fields given change. Time zone, quality threshold and ' +
    'budgets are the team’s',
  properties: {
    zscore_threshold: agentField('zscore_threshold'),
    baseline_days: agentField('baseline_days'),
    min_history_days: agentField('min_history_days'),
    rules: ref('AgentRules'),
  },
};

// --------------------------------------------------------------------------------------------- backtest

export interface BacktestBody {
  team?: string;
  from: string;
  to: string;
  settings?: TeamSettingsBody;
}

const BacktestBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'to'],
  description:
    'Replays the team’s stored runs of [from, to) through the detector’s rules; `settings` overlays the team’s ' +
    'settings in force for this replay only (nothing is saved)',
  properties: {
    team: text(
      128,
      1,
      'The team to replay: required with an admin key; a team key replays only its own team',
    ),
    from: instant('Start of the range reported (inclusive); the replay starts earlier to warm the baselines'),
    to: instant('End of the range reported (exclusive); at most BACKTEST_MAX_DAYS (default 31) after from'),
    settings: ref('TeamSettingsBody'),
  },
};

// --------------------------------------------------------------------------------------------- registry

/** Every schema of the api's request bodies, by its name under #/components/schemas. */
export const API_SCHEMAS: Readonly<Record<string, JsonSchema>> = {
  ApiKeyCreateBody,
  RateMatch,
  RateCardOverrideBody,
  RouteDestination,
  ...Object.fromEntries(Object.values(DESTINATIONS)),
  RouteCreateBody,
  Budget,
  ...Object.fromEntries(Object.values(BUDGETS)),
  TeamRules,
  GuardRule: GuardRuleSchema,
  TeamGuard,
  TeamSettingsBody,
  AgentRules,
  AgentSettingsBody,
  BacktestBody,
};

/** The request bodies, by schema name, as the handlers receive them once valid. */
export interface BodyTypes {
  ApiKeyCreateBody: ApiKeyCreateBody;
  RateCardOverrideBody: OverrideInput;
  RouteCreateBody: RouteCreateBody;
  TeamSettingsBody: TeamSettingsBody;
  AgentSettingsBody: AgentSettingsBody;
  BacktestBody: BacktestBody;
}

export type BodySchemaName = keyof BodyTypes;
