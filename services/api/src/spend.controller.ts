import { Controller, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '@libs/auth';
import { CONFIG } from '@libs/config';
import { ApiErrors } from '@libs/observability';
import { median, moments } from '@libs/stats';
import type { ApiConfig } from './api.config';
import {
  CURRENCY_CODE,
  PathParam,
  QueryParam,
  RUN_ID,
  TeamQuery,
  agentParam,
  badRequest,
  idParam,
  money,
  moneyIn,
  notFound,
  oneOf,
  teamScope,
  type Money,
} from './http';
import {
  SPEND_GROUP_COLUMNS,
  SpendRepository,
  type SpendGroup as Group,
  type TreeRow,
} from './spend.repository';
import { LimitQuery, RangeQuery, parseLimit, parseRange, type Limit } from './time-range';

const GROUPS = Object.keys(SPEND_GROUP_COLUMNS) as Group[];
const BUCKETS = ['hour', 'day', 'week'] as const;
const TOP_CUSTOMERS: Limit = { fallback: 50, max: 500 };
/** A top-customers row is flagged when its cost per run is over this many times its team's, unless asked otherwise. */
const FLAG_FACTOR = 12;

const CurrencyQuery = (): MethodDecorator =>
  QueryParam('currency', CURRENCY_CODE, {
    description:
      'A reporting currency (e.g. GBP) at the rates in FX_RATES: one of those configured (listed here)',
  });
/** Levels of a call tree below its root. */
const MAX_TREE_DEPTH = 32;

export interface SpendRow {
  bucket: string;
  key: string | null;
  cost: Money;
  runs: number;
  successful_runs: number;
  cost_per_run: Money | null;
  cost_per_successful_run: Money | null;
}

interface TreeNode {
  run_id: string;
  agent_id: string;
  model: string;
  status: string;
  cost: Money;
  rolled_up_cost: Money;
  children: TreeNode[];
}

/** The root run, and whether the tree was cut short (node or depth cap) or had a cycle. */
export type TreeResponse = TreeNode & { truncated: boolean };

const moneySchema = {
  type: 'object',
  properties: { amount: { type: 'string', example: '0.41' }, currency: { type: 'string', example: 'USD' } },
};
const treeNodeProperties = {
  run_id: { type: 'string' },
  agent_id: { type: 'string' },
  model: { type: 'string' },
  status: { type: 'string' },
  cost: moneySchema,
  rolled_up_cost: moneySchema,
  children: {
    type: 'array',
    description: 'the child runs, each a node like this one, most expensive (rolled up) first',
    items: { type: 'object' },
  },
};

@ApiTags('spend')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@ApiErrors({ 403: 'A team key names another team' })
@Controller('v1')
export class SpendController {
  constructor(
    private readonly stored: SpendRepository,
    @Inject(CONFIG)
    private readonly config: Pick<ApiConfig, 'API_MAX_RANGE_DAYS' | 'API_TREE_MAX_NODES' | 'FX_RATES'>,
  ) {}

  @Get('spend')
  @ApiOperation({
    summary: 'Spend breakdown',
    description:
      'Cost, runs, successful runs, cost per run and cost per successful run, grouped by one dimension and bucketed ' +
      'by hour, day or week (UTC) over [from, to). Amounts are exact decimal strings with their currency. A team key sees ' +
      'its own team; an admin key all teams or `team`. Runs without a value for the dimension have key null.',
  })
  @ApiQuery({ name: 'group_by', enum: GROUPS })
  @RangeQuery(7)
  @QueryParam('bucket', { type: 'string', enum: [...BUCKETS], default: 'day' }, { allowEmptyValue: true })
  @TeamQuery()
  @CurrencyQuery()
  async spend(
    @CurrentPrincipal() principal: Principal,
    @Query('group_by') groupBy?: string,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('bucket') bucketQ?: string,
    @Query('team') teamQ?: string,
    @Query('currency') currencyQ?: string,
  ): Promise<{ group_by: Group; bucket: string; from: string; to: string; rows: SpendRow[] }> {
    const group = oneOf('group_by', groupBy, GROUPS);
    const money = moneyIn(currencyQ, this.config.FX_RATES);
    const bucket = oneOf('bucket', bucketQ, BUCKETS, 'day');
    const { from, to } = parseRange(fromQ, toQ, { defaultDays: 7, maxDays: this.config.API_MAX_RANGE_DAYS });
    const team = teamScope(principal, teamQ);
    const rows = await this.stored.breakdown(group, bucket, {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      team,
    });
    return {
      group_by: group,
      bucket,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      rows: rows.map((r) => {
        const cost = BigInt(r.cost.split('.')[0]);
        const runs = Number(r.runs);
        const ok = Number(r.ok);
        return {
          bucket: r.b.toISOString(),
          key: r.key,
          cost: money(cost, r.currency),
          runs,
          successful_runs: ok,
          cost_per_run: runs > 0 ? money(cost / BigInt(runs), r.currency) : null,
          cost_per_successful_run: ok > 0 ? money(cost / BigInt(ok), r.currency) : null,
        };
      }),
    };
  }

  @Get('spend/top-customers')
  @ApiOperation({
    summary: 'Top customers by agent, with a team rollup (the brief’s table)',
    description:
      'Agent × customer rows over [from, to) with runs, cost and cost per run, most expensive first. A row is flagged ' +
      '`high_cost_per_run` when its cost per run is more than `flag_factor` (default 12) times its team’s, and ' +
      '`unattributed` when its runs carry no customer_id — the cron or backfill that forgot to tag.',
  })
  @RangeQuery(30)
  @TeamQuery()
  @LimitQuery(TOP_CUSTOMERS)
  @QueryParam(
    'flag_factor',
    { type: 'number', minimum: 1, exclusiveMinimum: true, default: FLAG_FACTOR },
    { description: `Above 1; default ${FLAG_FACTOR} (the brief flags an agent at 16× its team)` },
  )
  @CurrencyQuery()
  async topCustomers(
    @CurrentPrincipal() principal: Principal,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('limit') limitQ?: string,
    @Query('flag_factor') factorQ?: string,
    @Query('currency') currencyQ?: string,
  ) {
    const money = moneyIn(currencyQ, this.config.FX_RATES);
    const { from, to } = parseRange(fromQ, toQ, { defaultDays: 30, maxDays: this.config.API_MAX_RANGE_DAYS });
    const limit = parseLimit('limit', limitQ, TOP_CUSTOMERS);
    const factor = factorQ === undefined ? FLAG_FACTOR : Number(factorQ);
    if (!Number.isFinite(factor) || factor <= 1)
      throw badRequest('flag_factor must be a number above 1', { parameter: 'flag_factor' });
    const team = teamScope(principal, teamQ);
    const { rows, teams } = await this.stored.topCustomers(
      { from: new Date(from).toISOString(), to: new Date(to).toISOString(), team },
      limit,
    );
    const teamCpr = new Map(
      teams.map((t) => [`${t.team}/${t.currency}`, Number(t.runs) > 0 ? Number(t.cost) / Number(t.runs) : 0]),
    );
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      rows: rows.map((r) => {
        const runs = Number(r.runs);
        const cost = BigInt(r.cost.split('.')[0]);
        const cpr = runs > 0 ? Number(cost) / runs : 0;
        const flags = [
          ...(cpr > factor * (teamCpr.get(`${r.team}/${r.currency}`) ?? Infinity)
            ? ['high_cost_per_run']
            : []),
          ...(r.customer === null ? ['unattributed'] : []),
        ];
        return {
          team: r.team,
          agent_id: r.agent_id,
          customer_id: r.customer,
          runs,
          cost: money(cost, r.currency),
          cost_per_run: runs > 0 ? money(cost / BigInt(runs), r.currency) : null,
          flags,
        };
      }),
      teams: teams.map((t) => {
        const cost = BigInt(t.cost.split('.')[0]);
        const runs = Number(t.runs);
        return {
          team: t.team,
          runs,
          cost: money(cost, t.currency),
          cost_per_run: runs > 0 ? money(cost / BigInt(runs), t.currency) : null,
        };
      }),
    };
  }

  @Get('spend/unattributed')
  @ApiOperation({
    summary: 'Spend without a customer_id, by agent: the cron or backfill that forgot to tag its runs',
  })
  @RangeQuery(30)
  @TeamQuery()
  async unattributed(
    @CurrentPrincipal() principal: Principal,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
  ) {
    const { from, to } = parseRange(fromQ, toQ, { defaultDays: 30, maxDays: this.config.API_MAX_RANGE_DAYS });
    const rows = await this.stored.unattributed({
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      team: teamScope(principal, teamQ),
    });
    return {
      rows: rows.map((r) => ({
        team: r.team,
        agent_id: r.agent_id,
        runs: Number(r.runs),
        cost: money(BigInt(r.cost.split('.')[0]), r.currency),
        share_of_agent_spend:
          Number(r.agent_cost) > 0 ? Math.round((Number(r.cost) / Number(r.agent_cost)) * 1000) / 1000 : 0,
      })),
    };
  }

  @Get('sessions/stats')
  @ApiOperation({
    summary:
      "An agent's session cost statistics: mean, median, standard deviation, p95, and the sessions above 5× the median",
  })
  @QueryParam('agent_id', RUN_ID, { required: true, description: 'The agent_id its runs carry' })
  @RangeQuery(7)
  @TeamQuery()
  async sessionStats(
    @CurrentPrincipal() principal: Principal,
    @Query('agent_id') agentId?: string,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
  ) {
    if (agentId === undefined) throw badRequest('agent_id is required', { parameter: 'agent_id' });
    agentParam(agentId);
    const { from, to } = parseRange(fromQ, toQ, { defaultDays: 7, maxDays: this.config.API_MAX_RANGE_DAYS });
    const rows = await this.stored.sessionCosts(agentId, {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      team: teamScope(principal, teamQ),
    });
    const currency = rows[0]?.currency ?? 'USD';
    const costs = rows.map((r) => Number(r.cost));
    const m = moments(costs);
    const med = median(costs);
    const sorted = [...costs].sort((a, b) => a - b);
    const p95 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] : null;
    const round = (v: number | null) => (v === null ? null : money(BigInt(Math.round(v)), currency));
    return {
      agent_id: agentId,
      sessions: rows.length,
      mean: round(rows.length ? m.mean : null),
      median: round(med),
      stddev: round(rows.length ? m.stddev : null),
      variance_nanos_squared: rows.length > 1 ? m.stddev ** 2 : null,
      p95: round(p95),
      outliers: rows
        .filter((r) => med !== null && Number(r.cost) > 5 * med)
        .sort((a, b) => Number(b.cost) - Number(a.cost))
        .slice(0, 20)
        .map((r) => ({ session_id: r.session_id, runs: Number(r.runs), cost: money(r.cost, currency) })),
    };
  }

  @Get('runs/:run_id/tree')
  @ApiOperation({
    summary: "A run's call tree, each node with its own cost and the cost rolled up from its children",
    description:
      'Each run appears once (a run stored several times counts once). At most API_TREE_MAX_NODES runs (default 2000) ' +
      `and ${MAX_TREE_DEPTH} levels below the root are returned; \`truncated\` is true when the tree was cut there, or when ` +
      'runs name each other as parents (the repeat is left out). Rolled-up costs cover the runs returned.',
  })
  @PathParam('run_id', RUN_ID, 'The run_id the run was sent with')
  @TeamQuery("A team key: its own team (another is 403); an admin key: the run's team (default: any team)")
  @ApiErrors({ 404: 'No run with this run_id (in the team)' })
  @ApiOkResponse({
    description: 'The root run, its descendants as `children`, and whether the tree is complete',
    schema: {
      type: 'object',
      properties: {
        ...treeNodeProperties,
        truncated: {
          type: 'boolean',
          description:
            'the tree was cut at the node or depth cap, or had a cycle: not every descendant is shown',
        },
      },
    },
  })
  async tree(
    @CurrentPrincipal() principal: Principal,
    @Param('run_id') runId: string,
    @Query('team') teamQ?: string,
  ): Promise<TreeResponse> {
    idParam('run_id', runId);
    const team = teamScope(principal, teamQ);
    const maxNodes = this.config.API_TREE_MAX_NODES;
    const rows = await this.stored.callTree(runId, team, MAX_TREE_DEPTH, maxNodes + 1);
    const root = rows.find((r) => r.depth === 0);
    if (!root) throw notFound(`no run ${runId}`);
    let truncated = rows.length > maxNodes;
    const nodes = new Map<string, TreeRow>();
    for (const r of rows.slice(0, maxNodes).sort((a, b) => a.depth - b.depth)) {
      if (r.cycle || r.depth > MAX_TREE_DEPTH) truncated = true;
      else if (!nodes.has(r.run_id)) nodes.set(r.run_id, r);
    }
    const children = new Map<string, TreeRow[]>();
    for (const r of nodes.values()) {
      if (r === root || r.parent_run_id === null) continue;
      const list = children.get(r.parent_run_id) ?? [];
      list.push(r);
      children.set(r.parent_run_id, list);
    }
    const visited = new Set<string>();
    const build = (r: TreeRow): { node: TreeNode; total: bigint } => {
      visited.add(r.run_id);
      const kids: { node: TreeNode; total: bigint }[] = [];
      for (const child of children.get(r.run_id) ?? []) {
        if (visited.has(child.run_id)) truncated = true;
        else kids.push(build(child));
      }
      kids.sort((a, b) => (b.total > a.total ? 1 : b.total < a.total ? -1 : 0));
      const own = BigInt(r.total_cost_nanos);
      const total = kids.reduce((sum, k) => sum + k.total, own);
      return {
        node: {
          run_id: r.run_id,
          agent_id: r.agent_id,
          model: r.model,
          status: r.status,
          cost: money(own, r.currency),
          rolled_up_cost: money(total, r.currency),
          children: kids.map((k) => k.node),
        },
        total,
      };
    };
    const { node } = build(root);
    return { ...node, truncated };
  }
}
