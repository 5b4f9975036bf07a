import { RouteRepository, RouteValidationError, destinationKey, type RouteView } from '@libs/alerting';
import {
  Body,
  Controller,
  applyDecorators,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  ApiBearerAuth,
  ApiBody,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
  type SchemaObject,
} from '@nestjs/swagger';
import {
  API_KEYS,
  ApiKeyGuard,
  ApiKeyRepository,
  CurrentPrincipal,
  type ApiKeyInfo,
  type Principal,
} from '@libs/auth';
import type { FieldError } from '@libs/contracts';
import { ApiErrors } from '@libs/observability';
import {
  RateCardRepository,
  RateCardResolver,
  datasetProviders,
  unpricedExplainer,
  type MatchLogic,
  type OverrideInput,
  type RateRow,
  type UnpricedExplanation,
  type UnpricedModel,
} from '@libs/pricing-core';
import {
  PgTeamSettingsRepository,
  SettingsConflictError,
  canonicalTimeZone,
  rulesUpdateOf,
} from '@libs/team-settings';
import type { AgentSettingsBody, ApiKeyCreateBody, RouteCreateBody, TeamSettingsBody } from './body-schemas';
import {
  INSTANT,
  PathParam,
  QueryParam,
  RUN_ID,
  TEAM,
  TeamQuery,
  UUID,
  UUID_PATTERN,
  agentParam,
  badRequest,
  fits,
  forbidden,
  invalidBody,
  keyListScope,
  mayManageKey,
  money,
  notFound,
  parseInstant,
  requireAdmin,
  teamParam,
  teamScope,
  uuidParam,
  type Money,
} from './http';
import { UnpricedRepricer } from './repositories';
import { bodyDoc, validateBody } from './validate-body.pipe';
import {
  agentOverridesView,
  agentSettingsView,
  budgetsOf,
  guardRulesOf,
  settingsView,
} from './settings-view';
import { PageQuery, encodeCursor, linkNext, nextCursor, pageRequest, type Keyset } from './pagination';
import { type Limit } from './time-range';

/** Oldest first, then by id. */
const KEYS_KEYSET: Keyset = { parts: ['instant', 'text'] };
/** Most recently seen first, then team, provider and model. */
const UNPRICED_KEYSET: Keyset = { parts: ['instant', 'text', 'text', 'text'] };
/** Oldest first, then by id. */
const ROUTES_KEYSET: Keyset = { parts: ['instant', 'text'] };
/** By agent_id. */
const AGENTS_KEYSET: Keyset = { parts: ['text'] };

const LIST: Limit = { fallback: 100, max: 1000 };
/** An operator override's id, as its PUT names it. */
const OVERRIDE_ID: SchemaObject = {
  type: 'string',
  minLength: 1,
  maxLength: 100,
  pattern: '^[A-Za-z0-9._-]*$',
};
/** A route's id: a uuid, or `file:<n>` for the n-th route of ROUTES_FILE. */
const ROUTE_ID: SchemaObject = { type: 'string', pattern: `^(${UUID_PATTERN}|file:[0-9]{1,6})$` };
const MAX_DESTINATION_INDEX = 999;
const ADMIN_ONLY = { 403: 'Needs an admin API key' };
const TEAM_SCOPED = { 403: 'A team key names another team' };

function overrideId(id: string): string {
  if (!fits(OVERRIDE_ID, id))
    throw badRequest('id must be 1-100 letters, digits, ".", "_" or "-"', { parameter: 'id' });
  return id;
}

interface RateView {
  id: string;
  source: string;
  provider: string;
  model_id: string;
  match: MatchLogic;
  effective_from: string;
  effective_to: string | null;
  per_million_tokens: {
    input: Money;
    output: Money;
    cache_read: Money | null;
    cache_write: Money | null;
    cache_write_1h: Money | null;
  };
  tiers: { above_prompt_tokens: number; input: Money; output: Money }[];
  multiplier: number | null;
  version: string;
}

function view(r: RateRow): RateView {
  const m = (v: number | null) => (v === null ? null : money(v, r.currency));
  return {
    id: r.id,
    source: r.source,
    provider: r.provider,
    model_id: r.modelId,
    match: r.match,
    effective_from: new Date(r.effectiveFrom).toISOString(),
    effective_to: r.effectiveTo === null ? null : new Date(r.effectiveTo).toISOString(),
    per_million_tokens: {
      input: money(r.rates.input, r.currency),
      output: money(r.rates.output, r.currency),
      cache_read: m(r.rates.cacheRead),
      cache_write: m(r.rates.cacheWrite),
      cache_write_1h: m(r.rates.cacheWrite1h),
    },
    tiers: r.tiers.map((t) => ({
      above_prompt_tokens: t.above,
      input: money(t.rates.input, r.currency),
      output: money(t.rates.output, r.currency),
    })),
    multiplier: r.multiplier,
    version: r.version,
  };
}

/** What the schema cannot say of a match: every regex in it must compile. */
function regexProblems(m: MatchLogic, field = 'match'): FieldError[] {
  return Object.entries(m).flatMap(([op, v]: [string, MatchLogic[] | string]) => {
    if (Array.isArray(v)) return v.flatMap((x, i) => regexProblems(x, `${field}.${op}[${i}]`));
    if (op !== 'regex') return [];
    try {
      new RegExp(v);
      return [];
    } catch {
      return [{ field: `${field}.regex`, message: 'is not a valid regular expression' }];
    }
  });
}

/** What the schema cannot say of an override: rates unless a multiplier, and a period that is not empty. */
function overrideProblems(body: OverrideInput): FieldError[] {
  const problems = regexProblems(body.match);
  if (body.multiplier === undefined || body.multiplier === null)
    for (const field of ['input_per_mtok', 'output_per_mtok'] as const)
      if (body[field] === undefined) problems.push({ field, message: 'is required (or give multiplier)' });
  if (
    body.effective_to &&
    Date.parse(body.effective_to) <=
      (body.effective_from ? Date.parse(body.effective_from) : Date.UTC(2020, 0, 1))
  )
    problems.push({ field: 'effective_to', message: 'must be after effective_from' });
  return problems;
}

/** A route's problems as parseRoute words them ("route.destinations[0].url must be …"), as fields. */
function routeProblems(problems: string[]): FieldError[] {
  return problems.map((p) => {
    const m = /^route\.(\S+?):? (.*)$/.exec(p);
    return m ? { field: m[1], message: m[2] } : { field: '(body)', message: p };
  });
}

/** A route as the routes endpoints answer it (OpenAPI): secrets masked, each destination's disabled status. */
const ROUTE_VIEW_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'a uuid, or `file:<n>` for the n-th route of ROUTES_FILE' },
    team: { type: 'string', nullable: true, description: 'null: the catch-all' },
    match: {
      type: 'object',
      properties: {
        agent_id: { type: 'string' },
        rule: { type: 'array', items: { type: 'string' } },
        severity: { type: 'array', items: { type: 'string' } },
      },
    },
    destinations: {
      type: 'array',
      items: {
        type: 'object',
        description:
          'the destination as created, secrets masked (`****` and the last four characters; URLs to their host)',
        properties: {
          type: { type: 'string', enum: ['webhook', 'slack', 'pagerduty', 'teams', 'email'] },
          disabled: {
            type: 'object',
            description:
              'present only when the alert router no longer pages this destination: its webhook answered 410 Gone. ' +
              'POST /v1/routes/{id}/destinations/{index}/enable pages it again',
            properties: {
              at: { type: 'string', format: 'date-time' },
              reason: { type: 'string', description: 'e.g. "HTTP 410 from the receiver"' },
            },
            required: ['at', 'reason'],
          },
        },
        required: ['type'],
        additionalProperties: true,
      },
    },
  },
  required: ['id', 'team', 'match', 'destinations'],
};

/** An agent's settings as the agent settings endpoints answer them (OpenAPI). */
const AGENT_SETTINGS_VIEW_SCHEMA = {
  type: 'object',
  properties: {
    team: { type: 'string' },
    agent_id: { type: 'string' },
    overrides: {
      description:
        'What the agent sets instead of its team’s settings, and only that, as the PUT body that sets it ({} when nothing)',
      allOf: [{ $ref: '#/components/schemas/AgentSettingsBody' }],
    },
    effective: {
      type: 'object',
      description:
        'The settings in force for the agent: its overrides over its team’s, as GET /v1/teams/{team}/settings shows ' +
        'them without budgets (budgets, time zone and quality threshold are the team’s)',
    },
  },
  required: ['team', 'agent_id', 'overrides', 'effective'],
};
/** The path parameters of one agent's settings, in the OpenAPI document. */
const AgentParams = (): MethodDecorator =>
  applyDecorators(
    PathParam('team', TEAM),
    PathParam('agent_id', RUN_ID, 'The agent_id its runs carry (URL-encoded)'),
    ApiErrors(TEAM_SCOPED),
  );

@ApiTags('administration')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class AdminController {
  constructor(
    private readonly repricer: UnpricedRepricer,
    @Inject(API_KEYS) private readonly keys: ApiKeyRepository,
    private readonly rateCard: RateCardRepository,
    private readonly settings: PgTeamSettingsRepository,
    private readonly routes: RouteRepository,
  ) {}

  @Post('api-keys')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Create an API key (admin). The key is in this answer only; burnrate stores its hash.',
  })
  @ApiBody(bodyDoc('ApiKeyCreateBody'))
  @ApiErrors(ADMIN_ONLY)
  async createKey(
    @CurrentPrincipal() principal: Principal,
    @Body(validateBody('ApiKeyCreateBody')) body: ApiKeyCreateBody,
  ) {
    requireAdmin(principal);
    const { id, key, info } = await this.keys.create(body.team, body.name, body.role ?? 'team');
    return {
      id,
      key,
      team: info.team,
      name: info.name,
      role: info.role,
      prefix: info.prefix,
      created_at: info.created_at,
    };
  }

  @Get('api-keys')
  @ApiOperation({
    summary: 'List API keys (never the secret): a team key its team’s team keys, an admin all or ?team=',
  })
  @TeamQuery()
  @PageQuery(KEYS_KEYSET, LIST)
  @ApiErrors(TEAM_SCOPED)
  async listKeys(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('team') team?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ): Promise<ApiKeyInfo[]> {
    const scope = keyListScope(principal, team);
    const { limit, after } = pageRequest(KEYS_KEYSET, LIST, limitQ, cursorQ);
    const { keys, positions } = await this.keys.page(
      scope.team,
      scope.role,
      limit + 1,
      after && [String(after[0]), String(after[1])],
    );
    linkNext(reply, request.url, nextCursor(KEYS_KEYSET, limit, positions));
    return keys.slice(0, limit);
  }

  @Delete('api-keys/:id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Revoke an API key (admin, or a team key of the same team; admin keys only by an admin)',
  })
  @PathParam('id', UUID, 'The key’s id, as its creation answered it')
  @ApiErrors({ 404: 'No such key, or one this key may not manage' })
  async revokeKey(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    uuidParam('id', id, 'a key id');
    const key = await this.keys.get(id);
    if (!key || !mayManageKey(principal, key)) throw notFound(`no API key ${id}`);
    await this.keys.revoke(id);
  }

  @Get('rate-card')
  @ApiOperation({
    summary: 'The rate card in force',
    description:
      'Rows in force at `at` (default now), overrides first. With `model` (and optionally `provider`), the one row that prices that model.',
  })
  @QueryParam('at', INSTANT, { description: 'ISO-8601; default now', allowEmptyValue: true })
  @QueryParam('provider', { type: 'string' }, { description: 'Only rows of this provider' })
  @QueryParam('model', { type: 'string' }, { description: 'The model to price: the one row that prices it' })
  @ApiErrors({ 404: 'With `model`: no row prices the model at `at`' })
  async rateCardInForce(
    @Query('at') atQ?: string,
    @Query('provider') provider?: string,
    @Query('model') model?: string,
  ): Promise<{ at: string; rows: RateView[] }> {
    const at = parseInstant('at', atQ, Date.now());
    const rows = await this.rateCard.load();
    if (model) {
      const found = new RateCardResolver(rows).rowFor(model, provider ?? null, at);
      if (!found) throw notFound(`no price for ${provider ? `${provider} ` : ''}${model}`);
      return { at: new Date(at).toISOString(), rows: [view(found)] };
    }
    const inForce = rows.filter(
      (r) =>
        r.effectiveFrom <= at &&
        (r.effectiveTo === null || at < r.effectiveTo) &&
        (!provider || r.provider === provider),
    );
    return { at: new Date(at).toISOString(), rows: inForce.map(view) };
  }

  @Put('rate-card/overrides/:id')
  @ApiOperation({
    summary: 'Create or replace an operator override (admin)',
    description:
      'Overrides outrank the dataset. Give rates in $ per million tokens (input_per_mtok, output_per_mtok, ' +
      'cache_read_per_mtok, cache_write_per_mtok, cache_write_1h_per_mtok) for a self-hosted model or an Azure deployment name, or ' +
      '`multiplier` (e.g. 0.8) to discount the dataset row of the matched model. `effective_from` applies it by event time. ' +
      'Running pricing instances pick it up within seconds.',
  })
  @PathParam('id', OVERRIDE_ID, 'The override’s id, chosen by its author')
  @ApiBody(bodyDoc('RateCardOverrideBody'))
  @ApiErrors(ADMIN_ONLY)
  async putOverride(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body(validateBody('RateCardOverrideBody')) body: OverrideInput,
  ): Promise<RateView> {
    requireAdmin(principal);
    overrideId(id);
    const problems = overrideProblems(body);
    if (problems.length) throw invalidBody(problems);
    return view(await this.rateCard.putOverride(id, body));
  }

  @Delete('rate-card/overrides/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an operator override (admin)' })
  @PathParam('id', OVERRIDE_ID)
  @ApiErrors({ ...ADMIN_ONLY, 404: 'No override with this id' })
  async deleteOverride(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    requireAdmin(principal);
    overrideId(id);
    if (!(await this.rateCard.deleteOverride(id))) throw notFound(`no override ${id}`);
  }

  @Get('models/unpriced')
  @ApiOperation({
    summary:
      'Models seen without a price, per team: a team key its team’s, an admin all or ?team=. Add an override so their runs are priced',
    description:
      'Each model says why it is unpriced (`reason`, checked against the rate card at its last run) in one sentence ' +
      '(`explanation`), with up to three nearest names the price dataset knows (`suggestions`, by edit distance) when ' +
      'the provider or the model name is unknown. `priced_now`: the card has since learned the price; ' +
      '`POST /v1/models/unpriced/reprice` prices the stored runs. At most `limit` models (default 100, up to 1000): ' +
      'each explanation is computed on request, so a team sending thousands of made-up names costs itself paging, ' +
      'not the api its time.',
  })
  @TeamQuery()
  @PageQuery(UNPRICED_KEYSET, LIST)
  @ApiErrors(TEAM_SCOPED)
  @ApiOkResponse({
    description: 'The unpriced models, most recently seen first',
    schema: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          team: { type: 'string' },
          provider: {
            type: 'string',
            description: 'the provider as pricing resolved it, or `unknown` when none was given or inferred',
          },
          model: { type: 'string', description: 'the model name the runs sent' },
          runs: { type: 'string', description: 'unpriced runs counted (an integer, as a string)' },
          first_seen: { type: 'string', format: 'date-time' },
          last_seen: { type: 'string', format: 'date-time' },
          reason: {
            type: 'string',
            enum: ['unknown_provider', 'unknown_model', 'no_price_at_date', 'priced_now'],
            description:
              'unknown_provider: the provider is not in the price dataset, or none was given and none could be ' +
              'inferred from the model name; unknown_model: the provider is known, the model name is not; ' +
              'no_price_at_date: the rate card has the model, but no price in force at last_seen; priced_now: the ' +
              'rate card prices it at last_seen now (the runs came first): reprice them',
          },
          explanation: {
            type: 'string',
            description:
              'one sentence: what is wrong and what to do (e.g. "openai has no model matching \'gpt-77\'; …")',
          },
          suggestions: {
            type: 'array',
            maxItems: 3,
            description:
              'the nearest names the dataset prices, best first, with the provider to send them with (empty when ' +
              'the name is known or nothing is near)',
            items: {
              type: 'object',
              properties: { provider: { type: 'string' }, model: { type: 'string' } },
              required: ['provider', 'model'],
            },
          },
        },
        required: [
          'team',
          'provider',
          'model',
          'runs',
          'first_seen',
          'last_seen',
          'reason',
          'explanation',
          'suggestions',
        ],
      },
    },
  })
  async unpriced(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('team') team?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ): Promise<(UnpricedModel & UnpricedExplanation)[]> {
    const { limit, after } = pageRequest(UNPRICED_KEYSET, LIST, limitQ, cursorQ);
    const [page, rows, providers] = await Promise.all([
      this.rateCard.pageUnpriced(
        teamScope(principal, team),
        limit + 1,
        after && [String(after[0]), String(after[1]), String(after[2]), String(after[3])],
      ),
      this.rateCard.load(),
      datasetProviders(),
    ]);
    linkNext(reply, request.url, nextCursor(UNPRICED_KEYSET, limit, page.positions));
    const models = page.models.slice(0, limit);
    if (models.length === 0) return [];
    const explain = unpricedExplainer(providers, new RateCardResolver(rows));
    return models.map((m) => ({ ...m, ...explain(m) }));
  }

  @Post('routes')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Create an alert route (admin, or a key of the route’s team)',
    description:
      'Matches team, agent (glob such as "research-*"), rule and severity to destinations: pagerduty {routing_key}, ' +
      'slack {webhook_url}, teams {webhook_url}, webhook {url, secret: "whsec_…"}, email {to: [...]}. A route with an empty ' +
      'match is the team’s default; a route without team is the catch-all. Secrets are masked in every answer.',
  })
  @ApiBody(bodyDoc('RouteCreateBody'))
  @ApiErrors({ 403: 'A team key names another team than its own, or none (the catch-all is an admin’s)' })
  async createRoute(
    @CurrentPrincipal() principal: Principal,
    @Body(validateBody('RouteCreateBody')) body: RouteCreateBody,
  ): Promise<RouteView> {
    const team = body.team ?? null;
    if (principal.role !== 'admin' && team !== principal.team)
      throw forbidden(`this API key can only create routes for team "${principal.team}"`);
    try {
      const route = await this.routes.create(body);
      // a destination disabled in another route (same URL and secret) is disabled in this one too: say so
      return (await this.routes.views([route]))[0];
    } catch (err) {
      if (err instanceof RouteValidationError) throw badRequest(err.message, routeProblems(err.problems));
      throw err;
    }
  }

  @Get('routes')
  @ApiOperation({
    summary: 'Alert routes (secrets masked): a team key its team’s and the catch-all, an admin all',
    description:
      'A destination whose webhook answered 410 Gone (Standard Webhooks: the receiver asks the sender to stop) is ' +
      'no longer paged and shows `disabled: {at, reason}`; re-enable it with ' +
      '`POST /v1/routes/{id}/destinations/{index}/enable`.',
  })
  @TeamQuery()
  @PageQuery(ROUTES_KEYSET, LIST)
  @ApiErrors(TEAM_SCOPED)
  @ApiOkResponse({
    description: 'The routes, oldest first (those of ROUTES_FILE before the others)',
    schema: { type: 'array', items: ROUTE_VIEW_SCHEMA },
  })
  async listRoutes(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('team') team?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ): Promise<RouteView[]> {
    const { limit, after } = pageRequest(ROUTES_KEYSET, LIST, limitQ, cursorQ);
    // the cursor holds microseconds, as every cursor does; routes are ordered by their creation in milliseconds
    const page = await this.routes.listPage(teamScope(principal, team), {
      limit,
      after: after && [Math.floor(Number(after[0]) / 1000), String(after[1])],
    });
    if (page.more && page.last)
      linkNext(reply, request.url, encodeCursor(ROUTES_KEYSET, [String(page.last[0] * 1000), page.last[1]]));
    return page.routes;
  }

  @Post('routes/:id/destinations/:index/enable')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Page a disabled destination again (admin, or a key of the route’s team)',
    description:
      'Clears the `disabled` status a 410 Gone from the destination’s webhook set, in every route holding the same ' +
      'destination; the next anomalies page it (within a few seconds). Already enabled: answered the same.',
  })
  @PathParam('id', ROUTE_ID, 'The route id, as `GET /v1/routes` lists it')
  @PathParam(
    'index',
    { type: 'integer', minimum: 0, maximum: MAX_DESTINATION_INDEX },
    'The destination’s position in the route’s `destinations`, from 0',
  )
  @ApiErrors({ 404: 'No such route (of the key’s team), or no destination at index' })
  @ApiOkResponse({ description: 'The route, as `GET /v1/routes` lists it', schema: ROUTE_VIEW_SCHEMA })
  async enableDestination(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('index') index: string,
  ): Promise<RouteView> {
    if (!fits(ROUTE_ID, id))
      throw badRequest('id must be a route id (uuid, or file:<n>)', { parameter: 'id' });
    if (!/^\d+$/.test(index) || Number(index) > MAX_DESTINATION_INDEX)
      throw badRequest('index must be a destination’s position (0, 1, …)', { parameter: 'index' });
    const route = await this.routes.find(id.toLowerCase());
    // a team key changes only its team's routes (the catch-all it sees is the operator's)
    if (!route || (principal.role !== 'admin' && route.team !== principal.team))
      throw notFound(`no route ${id}`);
    const destination = route.destinations[Number(index)];
    if (!destination) throw notFound(`route ${id} has no destination ${index}`);
    await this.routes.enableDestination(destinationKey(destination));
    return (await this.routes.views([route]))[0];
  }

  @Delete('routes/:id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete an alert route made through the api (admin, or a key of the route’s team)',
    description:
      'Pending deliveries already queued for it are still made; routes from ROUTES_FILE are changed there.',
  })
  @PathParam('id', UUID, 'The route id, as `GET /v1/routes` lists it')
  @ApiErrors({ 404: 'No such route made through the api (of the key’s team)' })
  async deleteRoute(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    uuidParam('id', id, 'a route id');
    const team = await this.routes.apiRouteTeam(id);
    if (team === undefined || (principal.role !== 'admin' && team !== principal.team))
      throw notFound(`no route ${id}`);
    await this.routes.delete(id);
  }

  @Post('models/unpriced/reprice')
  @ApiOperation({
    summary: 'Price the stored runs that arrived unpriced, now that the rate card knows their models (admin)',
    description:
      'Each run at the rate in force at its finished_at; breakdowns are corrected. Safe to repeat.',
  })
  @ApiErrors(ADMIN_ONLY)
  async reprice(
    @CurrentPrincipal() principal: Principal,
  ): Promise<{ repriced: number; still_unpriced: number }> {
    requireAdmin(principal);
    const { repriced, stillUnpriced } = await this.repricer.reprice();
    return { repriced, still_unpriced: stillUnpriced };
  }

  @Put('teams/:team/settings')
  @ApiOperation({
    summary:
      'Team settings and budgets (admin, or a key of that team); the detector picks them up without a restart',
  })
  @PathParam('team', TEAM)
  @ApiBody(bodyDoc('TeamSettingsBody'))
  @ApiErrors(TEAM_SCOPED)
  async putSettings(
    @CurrentPrincipal() principal: Principal,
    @Param('team') team: string,
    @Body(validateBody('TeamSettingsBody')) body: TeamSettingsBody,
  ) {
    teamParam(team);
    if (principal.role !== 'admin' && principal.team !== team)
      throw forbidden(`this API key cannot change team "${team}"`);
    try {
      await this.settings.save(team, {
        zscoreThreshold: body.zscore_threshold,
        baselineDays: body.baseline_days,
        minHistoryDays: body.min_history_days,
        qualityThreshold: body.quality_threshold,
        lateAfterMs:
          body.late_after_minutes === undefined
            ? undefined
            : body.late_after_minutes === null
              ? null
              : body.late_after_minutes * 60_000,
        timezone:
          body.timezone === undefined ? undefined : (canonicalTimeZone(body.timezone) ?? body.timezone),
        budgets: body.budgets === undefined ? undefined : budgetsOf(body.budgets),
        rules: rulesUpdateOf(body.rules),
        guard: body.guard === undefined ? undefined : guardRulesOf(body.guard),
      });
    } catch (err) {
      if (err instanceof SettingsConflictError)
        throw invalidBody([{ field: err.field, message: err.message }]);
      throw err;
    }
    return this.getSettings(principal, team);
  }

  @Get('teams/:team/settings')
  @ApiOperation({ summary: 'Team settings and budgets' })
  @PathParam('team', TEAM)
  @ApiErrors(TEAM_SCOPED)
  async getSettings(@CurrentPrincipal() principal: Principal, @Param('team') team: string) {
    teamParam(team);
    teamScope(principal, team);
    return settingsView(team, await this.settings.forTeam(team));
  }

  @Get('teams/:team/agents/settings')
  @ApiOperation({
    summary: 'The team’s agents with settings of their own, by agent_id (admin, or a key of that team)',
    description: 'Each with what it overrides; at most `limit` agents (default 100, up to 1000).',
  })
  @PathParam('team', TEAM)
  @PageQuery(AGENTS_KEYSET, LIST)
  @ApiErrors(TEAM_SCOPED)
  @ApiOkResponse({
    description: 'The agents with overrides, by agent_id',
    schema: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          team: { type: 'string' },
          agent_id: { type: 'string' },
          overrides: AGENT_SETTINGS_VIEW_SCHEMA.properties.overrides,
          updated_at: { type: 'string', format: 'date-time' },
        },
        required: ['team', 'agent_id', 'overrides', 'updated_at'],
      },
    },
  })
  async listAgentSettings(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Param('team') team: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ) {
    teamParam(team);
    teamScope(principal, team);
    const { limit, after } = pageRequest(AGENTS_KEYSET, LIST, limitQ, cursorQ);
    const agents = await this.settings.listAgents(team, limit + 1, after && String(after[0]));
    linkNext(
      reply,
      request.url,
      nextCursor(
        AGENTS_KEYSET,
        limit,
        agents.map((a) => [a.agentId]),
      ),
    );
    return agents.slice(0, limit).map((a) => ({
      team,
      agent_id: a.agentId,
      overrides: agentOverridesView(a.overrides),
      updated_at: a.updatedAt,
    }));
  }

  @Put('teams/:team/agents/:agent_id/settings')
  @ApiOperation({
    summary: 'One agent’s overrides of its team’s settings (admin, or a key of that team)',
    description:
      'zscore_threshold, baseline_days, min_history_days and `rules` as in `PUT /v1/teams/{team}/settings`; only the ' +
      'fields given change, and null removes the agent’s own value so the team’s applies again. Time zone, quality ' +
      'threshold and budgets stay the team’s.',
  })
  @AgentParams()
  @ApiBody(bodyDoc('AgentSettingsBody'))
  @ApiOkResponse({ description: 'The agent’s settings', schema: AGENT_SETTINGS_VIEW_SCHEMA })
  async putAgentSettings(
    @CurrentPrincipal() principal: Principal,
    @Param('team') team: string,
    @Param('agent_id') agentId: string,
    @Body(validateBody('AgentSettingsBody')) body: AgentSettingsBody,
  ) {
    teamParam(team);
    agentParam(agentId);
    if (principal.role !== 'admin' && principal.team !== team)
      throw forbidden(`this API key cannot change team "${team}"`);
    try {
      await this.settings.saveAgent(team, agentId, {
        zscoreThreshold: body.zscore_threshold,
        baselineDays: body.baseline_days,
        minHistoryDays: body.min_history_days,
        rules: rulesUpdateOf(body.rules),
      });
    } catch (err) {
      if (err instanceof SettingsConflictError)
        throw invalidBody([{ field: err.field, message: err.message }]);
      throw err;
    }
    return this.getAgentSettings(principal, team, agentId);
  }

  @Get('teams/:team/agents/:agent_id/settings')
  @ApiOperation({
    summary: 'One agent’s overrides and the settings in force for it (its team’s where it sets nothing)',
  })
  @AgentParams()
  @ApiOkResponse({ description: 'The agent’s settings', schema: AGENT_SETTINGS_VIEW_SCHEMA })
  async getAgentSettings(
    @CurrentPrincipal() principal: Principal,
    @Param('team') team: string,
    @Param('agent_id') agentId: string,
  ) {
    teamParam(team);
    agentParam(agentId);
    teamScope(principal, team);
    const [overrides, effective] = await Promise.all([
      this.settings.agentOverrides(team, agentId),
      this.settings.forAgent(team, agentId),
    ]);
    return agentSettingsView(team, agentId, overrides, effective);
  }

  @Delete('teams/:team/agents/:agent_id/settings')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Remove an agent’s overrides: its team’s settings apply (admin, or a key of that team)',
  })
  @AgentParams()
  @ApiResponse({ status: 204, description: 'Removed: the team’s settings apply to the agent' })
  @ApiErrors({ 404: 'The agent has no settings of its own' })
  async deleteAgentSettings(
    @CurrentPrincipal() principal: Principal,
    @Param('team') team: string,
    @Param('agent_id') agentId: string,
  ): Promise<void> {
    teamParam(team);
    agentParam(agentId);
    if (principal.role !== 'admin' && principal.team !== team)
      throw forbidden(`this API key cannot change team "${team}"`);
    if (!(await this.settings.deleteAgent(team, agentId)))
      throw notFound(`agent "${agentId}" of team "${team}" has no settings of its own`);
  }
}
