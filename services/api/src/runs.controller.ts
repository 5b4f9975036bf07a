import { Controller, Get, Inject, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '@libs/auth';
import { CONFIG } from '@libs/config';
import { ApiErrors } from '@libs/observability';
import type { ApiConfig } from './api.config';
import {
  CURRENCY_CODE,
  QueryParam,
  RUN_ID,
  TeamQuery,
  agentParam,
  moneyIn,
  teamScope,
  type Money,
} from './http';
import { PageQuery, linkNext, pageOf, pageRequest, type Keyset } from './pagination';
import { RunsRepository, type RunRow } from './runs.repository';
import { RangeQuery, parseRange, type Limit } from './time-range';

const RUNS: Limit = { fallback: 50, max: 500 };
/** Newest first: finished_at (µs), then team and run_id, all descending. */
const RUNS_KEYSET: Keyset = { parts: ['instant', 'text', 'text'] };

export interface RunItem {
  run_id: string;
  team: string;
  agent_id: string;
  model: string;
  provider: string;
  status: string;
  price_status: string;
  customer_id: string | null;
  feature: string | null;
  session_id: string | null;
  parent_run_id: string | null;
  children: number;
  started_at: string;
  finished_at: string;
  input_tokens: number;
  output_tokens: number;
  cost: Money;
}

const moneySchema = {
  type: 'object',
  properties: { amount: { type: 'string', example: '0.41' }, currency: { type: 'string', example: 'USD' } },
};
const nullableString = { type: 'string', nullable: true };

@ApiTags('runs')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@ApiErrors({ 403: 'A team key names another team' })
@Controller('v1')
export class RunsController {
  constructor(
    private readonly runs: RunsRepository,
    @Inject(CONFIG) private readonly config: Pick<ApiConfig, 'API_MAX_RANGE_DAYS' | 'FX_RATES'>,
  ) {}

  @Get('runs')
  @ApiOperation({
    summary: 'Recent runs, newest first, a page at a time (default: the last 7 days)',
    description:
      'Stored runs by finished_at, newest first, with their cost, tokens and how many child runs they spawned. ' +
      'A page holds up to `limit` runs; `next_cursor` (null on the last page) given as `cursor` answers the next ' +
      'one, with the same other parameters. A team key sees its own team; an admin key all teams or `team`.',
  })
  @QueryParam('agent_id', RUN_ID, { description: 'Only the runs of this agent' })
  @RangeQuery(7, 'ISO-8601; default a minute from now')
  @TeamQuery()
  @PageQuery(RUNS_KEYSET, RUNS)
  @QueryParam('currency', CURRENCY_CODE, {
    description:
      'A reporting currency (e.g. GBP) at the rates in FX_RATES: one of those configured (listed here)',
  })
  @ApiOkResponse({
    description: 'A page of runs and the cursor of the next page',
    schema: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              run_id: { type: 'string' },
              team: { type: 'string' },
              agent_id: { type: 'string' },
              model: { type: 'string' },
              provider: { type: 'string' },
              status: { type: 'string' },
              price_status: { type: 'string' },
              customer_id: nullableString,
              feature: nullableString,
              session_id: nullableString,
              parent_run_id: nullableString,
              children: { type: 'integer', description: 'child runs that name this run as their parent' },
              started_at: { type: 'string', format: 'date-time' },
              finished_at: { type: 'string', format: 'date-time' },
              input_tokens: {
                type: 'integer',
                description: 'uncached, cache-read and cache-write input tokens',
              },
              output_tokens: { type: 'integer' },
              cost: moneySchema,
            },
          },
        },
        next_cursor: { ...nullableString, description: 'null on the last page' },
      },
    },
  })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('agent_id') agentId?: string,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
    @Query('currency') currencyQ?: string,
  ): Promise<{ items: RunItem[]; next_cursor: string | null }> {
    const money = moneyIn(currencyQ, this.config.FX_RATES);
    const { from, to } = parseRange(fromQ, toQ, {
      defaultDays: 7,
      maxDays: this.config.API_MAX_RANGE_DAYS,
      defaultTo: Date.now() + 60_000,
    });
    const { limit, after } = pageRequest(RUNS_KEYSET, RUNS, limitQ, cursorQ);
    const rows = await this.runs.recent({
      team: teamScope(principal, teamQ),
      agentId: agentId === undefined ? null : agentParam(agentId),
      from: new Date(from),
      to: new Date(to),
      after: after && { finishedUs: BigInt(after[0]), team: String(after[1]), runId: String(after[2]) },
      limit: limit + 1,
    });
    const page = pageOf(rows, limit, RUNS_KEYSET, (r) => [r.finished_us, r.team, r.run_id]);
    linkNext(reply, request.url, page.next_cursor);
    return { items: page.items.map((r) => itemOf(r, money)), next_cursor: page.next_cursor };
  }
}

function itemOf(r: RunRow, money: (nanos: string, currency: string) => Money): RunItem {
  return {
    run_id: r.run_id,
    team: r.team,
    agent_id: r.agent_id,
    model: r.model,
    provider: r.provider,
    status: r.status,
    price_status: r.price_status,
    customer_id: r.customer_id,
    feature: r.feature,
    session_id: r.session_id,
    parent_run_id: r.parent_run_id,
    children: r.children,
    started_at: r.started_at.toISOString(),
    finished_at: r.finished_at.toISOString(),
    input_tokens: Number(r.input_tokens),
    output_tokens: Number(r.output_tokens),
    cost: money(r.total_cost_nanos, r.currency),
  };
}
