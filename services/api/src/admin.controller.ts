import { RouteRepository, RouteValidationError, maskDestination } from '@libs/alerting';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Query,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Pool } from 'pg';
import {
  API_KEYS,
  ApiKeyGuard,
  ApiKeyRepository,
  CurrentPrincipal,
  type ApiKeyInfo,
  type Principal,
} from '@libs/auth';
import { PG_POOL } from '@libs/db';
import {
  RateCardRepository,
  RateCardResolver,
  repriceUnpriced,
  resolveProviderAndModel,
  type MatchLogic,
  type OverrideInput,
  type RateRow,
  type UnpricedModel,
} from '@libs/pricing-core';
import {
  badRequest,
  forbidden,
  money,
  notFound,
  parseInstant,
  requireAdmin,
  teamScope,
  type Money,
} from './http';

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

const MATCH_KEYS = ['equals', 'starts_with', 'ends_with', 'contains', 'regex', 'and', 'or'];

function validMatch(m: unknown, path = 'match'): string[] {
  if (!m || typeof m !== 'object' || Array.isArray(m))
    return [`${path} must be an object like {"equals": "my-model"}`];
  const keys = Object.keys(m);
  if (keys.length !== 1 || !MATCH_KEYS.includes(keys[0]))
    return [`${path} must have exactly one of ${MATCH_KEYS.join(', ')}`];
  const v = (m as Record<string, unknown>)[keys[0]];
  if (keys[0] === 'and' || keys[0] === 'or') {
    return Array.isArray(v) && v.length > 0
      ? v.flatMap((x, i) => validMatch(x, `${path}.${keys[0]}[${i}]`))
      : [`${path}.${keys[0]} must be a non-empty list`];
  }
  if (typeof v !== 'string' || v === '') return [`${path}.${keys[0]} must be a non-empty string`];
  if (keys[0] === 'regex') {
    try {
      new RegExp(v);
    } catch {
      return [`${path}.regex is not a valid regular expression`];
    }
  }
  return [];
}

@ApiTags('administration')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class AdminController {
  private readonly rateCard: RateCardRepository;
  private readonly routes: RouteRepository;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(API_KEYS) private readonly keys: ApiKeyRepository,
  ) {
    this.rateCard = new RateCardRepository(pool);
    this.routes = new RouteRepository(pool, process.env.ROUTES_FILE);
  }

  @Post('api-keys')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Create an API key (admin). The key is in this answer only; burnrate stores its hash.',
  })
  async createKey(
    @CurrentPrincipal() principal: Principal,
    @Body() body: { team?: unknown; name?: unknown; role?: unknown },
  ) {
    requireAdmin(principal);
    const errors: string[] = [];
    if (typeof body?.team !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(body.team))
      errors.push('team must be 1-64 letters, digits, ".", "_" or "-"');
    if (typeof body?.name !== 'string' || body.name.length === 0 || body.name.length > 200)
      errors.push('name must be a string of 1-200 characters');
    const role = body?.role ?? 'team';
    if (role !== 'team' && role !== 'admin') errors.push('role must be "team" or "admin"');
    if (errors.length) throw badRequest(errors.join('; '), { errors });
    const { id, key, info } = await this.keys.create(
      body.team as string,
      body.name as string,
      role as 'team' | 'admin',
    );
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
    summary: 'List API keys (never the secret): a team key its team’s, an admin all or ?team=',
  })
  async listKeys(
    @CurrentPrincipal() principal: Principal,
    @Query('team') team?: string,
  ): Promise<ApiKeyInfo[]> {
    return this.keys.list(teamScope(principal, team) ?? undefined);
  }

  @Delete('api-keys/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key (admin, or a key of the same team)' })
  async revokeKey(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw badRequest('id must be a key id (uuid)', { parameter: 'id' });
    const key = await this.keys.get(id);
    if (!key || (principal.role !== 'admin' && key.team !== principal.team))
      throw notFound(`no API key ${id}`);
    await this.keys.revoke(id);
  }

  @Get('rate-card')
  @ApiOperation({
    summary: 'The rate card in force',
    description:
      'Rows in force at `at` (default now), overrides first. With `model` (and optionally `provider`), the one row that prices that model.',
  })
  async rateCardInForce(
    @Query('at') atQ?: string,
    @Query('provider') provider?: string,
    @Query('model') model?: string,
  ): Promise<{ at: string; rows: RateView[] }> {
    const at = parseInstant('at', atQ, Date.now());
    const rows = await this.rateCard.load();
    if (model) {
      const resolved = resolveProviderAndModel(model, provider ?? null);
      const found = new RateCardResolver(rows).resolve(resolved.provider, resolved.model, at);
      if (!found) throw notFound(`no price for ${resolved.provider} ${resolved.model}`);
      return { at: new Date(at).toISOString(), rows: [view(found.row)] };
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
  async putOverride(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: OverrideInput,
  ): Promise<RateView> {
    requireAdmin(principal);
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(id))
      throw badRequest('id must be 1-100 letters, digits, ".", "_" or "-"', { parameter: 'id' });
    const errors: string[] = [];
    if (typeof body?.provider !== 'string' || body.provider === '') errors.push('provider is required');
    errors.push(...validMatch(body?.match));
    const rate = (name: keyof OverrideInput, required: boolean) => {
      const v = body?.[name];
      if (v === undefined || v === null) {
        if (required) errors.push(`${name} is required (or give multiplier)`);
      } else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        errors.push(`${name} must be a number >= 0`);
    };
    const hasMultiplier = body?.multiplier !== undefined && body?.multiplier !== null;
    if (
      hasMultiplier &&
      (typeof body.multiplier !== 'number' || !(body.multiplier > 0) || body.multiplier > 10)
    )
      errors.push('multiplier must be a number in (0, 10]');
    rate('input_per_mtok', !hasMultiplier);
    rate('output_per_mtok', !hasMultiplier);
    rate('cache_read_per_mtok', false);
    rate('cache_write_per_mtok', false);
    rate('cache_write_1h_per_mtok', false);
    for (const f of ['effective_from', 'effective_to'] as const) {
      const v = body?.[f];
      if (v !== undefined && v !== null && (typeof v !== 'string' || Number.isNaN(Date.parse(v))))
        errors.push(`${f} must be an ISO-8601 instant`);
    }
    if (errors.length) throw badRequest(errors.join('; '), { errors });
    return view(await this.rateCard.putOverride(id, body));
  }

  @Delete('rate-card/overrides/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an operator override (admin)' })
  async deleteOverride(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    requireAdmin(principal);
    if (!(await this.rateCard.deleteOverride(id))) throw notFound(`no override ${id}`);
  }

  @Get('models/unpriced')
  @ApiOperation({ summary: 'Models seen without a price: add an override so their runs are priced' })
  async unpriced(): Promise<UnpricedModel[]> {
    return (await this.rateCard.listUnpriced()).map((u) => ({ ...u, runs: u.runs }));
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
  async createRoute(@CurrentPrincipal() principal: Principal, @Body() body: Record<string, unknown>) {
    const team = (body?.team ?? null) as string | null;
    if (principal.role !== 'admin' && team !== principal.team)
      throw forbidden(`this API key can only create routes for team "${principal.team}"`);
    try {
      const route = await this.routes.create(body);
      return {
        id: route.id,
        team: route.team,
        match: route.match,
        destinations: route.destinations.map(maskDestination),
      };
    } catch (err) {
      if (err instanceof RouteValidationError) throw badRequest(err.message, { errors: err.problems });
      throw err;
    }
  }

  @Get('routes')
  @ApiOperation({
    summary: 'Alert routes (secrets masked): a team key its team’s and the catch-all, an admin all',
  })
  async listRoutes(@CurrentPrincipal() principal: Principal, @Query('team') team?: string) {
    return this.routes.list(teamScope(principal, team));
  }

  @Delete('routes/:id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete an alert route made through the api (admin, or a key of the route’s team)',
    description:
      'Pending deliveries already queued for it are still made; routes from ROUTES_FILE are changed there.',
  })
  async deleteRoute(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw badRequest('id must be a route id (uuid)', { parameter: 'id' });
    const { rows } = await this.pool.query<{ team: string | null }>(
      "select team from alert_routes where id = $1 and source = 'api'",
      [id],
    );
    if (rows.length === 0 || (principal.role !== 'admin' && rows[0].team !== principal.team))
      throw notFound(`no route ${id}`);
    await this.routes.delete(id);
  }

  @Post('models/unpriced/reprice')
  @ApiOperation({
    summary: 'Price the stored runs that arrived unpriced, now that the rate card knows their models (admin)',
    description:
      'Each run at the rate in force at its finished_at; breakdowns are corrected. Safe to repeat.',
  })
  async reprice(
    @CurrentPrincipal() principal: Principal,
  ): Promise<{ repriced: number; still_unpriced: number }> {
    requireAdmin(principal);
    const { repriced, stillUnpriced } = await repriceUnpriced(this.pool);
    return { repriced, still_unpriced: stillUnpriced };
  }

  @Put('teams/:team/settings')
  @ApiOperation({
    summary:
      'Team settings and budgets (admin, or a key of that team); the detector picks them up without a restart',
  })
  async putSettings(
    @CurrentPrincipal() principal: Principal,
    @Param('team') team: string,
    @Body() body: Record<string, unknown>,
  ) {
    if (principal.role !== 'admin' && principal.team !== team)
      throw forbidden(`this API key cannot change team "${team}"`);
    const errors: string[] = [];
    const num = (name: string, min: number, max: number, integer = false) => {
      const v = body?.[name];
      if (v === undefined) return undefined;
      if (
        typeof v !== 'number' ||
        !Number.isFinite(v) ||
        v < min ||
        v > max ||
        (integer && !Number.isInteger(v))
      ) {
        errors.push(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
      }
      return v as number;
    };
    const zscore = num('zscore_threshold', 0.5, 10);
    const baseline = num('baseline_days', 3, 60, true);
    const minHistory = num('min_history_days', 1, 60, true);
    const quality = num('quality_threshold', 0, 1);
    let timezone = body?.timezone;
    if (timezone !== undefined) {
      try {
        new Intl.DateTimeFormat('en', { timeZone: String(timezone) });
      } catch {
        errors.push('timezone must be an IANA time zone such as Europe/London');
        timezone = undefined;
      }
    }
    const budgets = body?.budgets;
    const parsedBudgets: {
      scope: string;
      subject: string;
      period: string;
      amount_nanos: string;
      currency: string;
    }[] = [];
    if (budgets !== undefined) {
      if (!Array.isArray(budgets)) errors.push('budgets must be a list');
      else
        budgets.forEach((b: Record<string, unknown>, i) => {
          const scope = b?.scope;
          if (scope !== 'team' && scope !== 'agent' && scope !== 'customer')
            errors.push(`budgets[${i}].scope must be team, agent or customer`);
          const subject = scope === 'agent' ? b.agent_id : scope === 'customer' ? b.customer_id : '';
          if (scope !== 'team' && (typeof subject !== 'string' || subject === ''))
            errors.push(`budgets[${i}] needs ${scope === 'agent' ? 'agent_id' : 'customer_id'}`);
          if (b?.period !== 'day' && b?.period !== 'month')
            errors.push(`budgets[${i}].period must be day or month`);
          if (typeof b?.amount !== 'number' || !(b.amount > 0))
            errors.push(`budgets[${i}].amount must be a positive number`);
          if (typeof b?.currency !== 'string' || !/^[A-Z]{3}$/.test(b.currency))
            errors.push(`budgets[${i}].currency must be an ISO 4217 code like USD`);
          if (typeof b?.amount === 'number') {
            parsedBudgets.push({
              scope: String(scope),
              subject: String(subject ?? ''),
              period: String(b.period),
              amount_nanos: BigInt(Math.round(b.amount * 1e9)).toString(),
              currency: String(b.currency),
            });
          }
        });
    }
    if (minHistory !== undefined && baseline !== undefined && minHistory > baseline)
      errors.push('min_history_days cannot exceed baseline_days');
    if (errors.length) throw badRequest(errors.join('; '), { errors });
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      await client.query(
        `insert into team_settings (team, zscore_threshold, baseline_days, min_history_days, timezone, quality_threshold)
         values ($1, coalesce($2, 2.5), coalesce($3, 14), coalesce($4, 7), coalesce($5, 'UTC'), coalesce($6, 0))
         on conflict (team) do update set
           zscore_threshold = coalesce($2, team_settings.zscore_threshold), baseline_days = coalesce($3, team_settings.baseline_days),
           min_history_days = coalesce($4, team_settings.min_history_days), timezone = coalesce($5, team_settings.timezone),
           quality_threshold = coalesce($6, team_settings.quality_threshold), updated_at = now()`,
        [
          team,
          zscore ?? null,
          baseline ?? null,
          minHistory ?? null,
          (timezone as string | undefined) ?? null,
          quality ?? null,
        ],
      );
      if (budgets !== undefined) {
        await client.query('delete from budgets where team = $1', [team]);
        for (const b of parsedBudgets) {
          await client.query(
            'insert into budgets (team, scope, subject, period, amount_nanos, currency) values ($1, $2, $3, $4, $5, $6)',
            [team, b.scope, b.subject, b.period, b.amount_nanos, b.currency],
          );
        }
      }
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      throw err;
    } finally {
      client.release();
    }
    return this.getSettings(principal, team);
  }

  @Get('teams/:team/settings')
  @ApiOperation({ summary: 'Team settings and budgets' })
  async getSettings(@CurrentPrincipal() principal: Principal, @Param('team') team: string) {
    teamScope(principal, team);
    const { rows } = await this.pool.query('select * from team_settings where team = $1', [team]);
    const s = rows[0] ?? {
      zscore_threshold: 2.5,
      baseline_days: 14,
      min_history_days: 7,
      timezone: 'UTC',
      quality_threshold: 0,
    };
    const { rows: budgets } = await this.pool.query<{
      scope: string;
      subject: string;
      period: string;
      amount_nanos: string;
      currency: string;
    }>('select scope, subject, period, amount_nanos, currency from budgets where team = $1 order by id', [
      team,
    ]);
    return {
      team,
      zscore_threshold: s.zscore_threshold,
      baseline_days: s.baseline_days,
      min_history_days: s.min_history_days,
      timezone: s.timezone,
      quality_threshold: s.quality_threshold,
      budgets: budgets.map((b) => ({
        scope: b.scope,
        ...(b.scope === 'agent'
          ? { agent_id: b.subject }
          : b.scope === 'customer'
            ? { customer_id: b.subject }
            : {}),
        period: b.period,
        amount: money(b.amount_nanos, b.currency),
      })),
    };
  }
}
