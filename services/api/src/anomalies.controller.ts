import { Controller, Get, Inject, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '@libs/auth';
import { CONFIG } from '@libs/config';
import type { ApiConfig } from './api.config';
import { ApiErrors } from '@libs/observability';
import {
  PathParam,
  QueryParam,
  RUN_ID,
  TEXT,
  TeamQuery,
  agentParam,
  notFound,
  oneOf,
  teamScope,
  textParam,
} from './http';
import {
  AGENT_STATS_KEYSET,
  ANOMALY_KEYSET,
  AnomaliesRepository,
  DELIVERY_KEYSET,
  INCIDENT_KEYSET,
  type IncidentRow,
} from './anomalies.repository';
import { PageQuery, linkNext, pageRequest } from './pagination';
import { RangeQuery, parseRange, type Limit } from './time-range';

const LIST: Limit = { fallback: 100, max: 1000 };
const ANOMALY_STATES = ['firing', 'escalated', 'resolved'];
const INCIDENT_STATES = ['open', 'resolved'] as const;
const OUTCOMES = ['delivered', 'accepted', 'retrying', 'failed', 'suppressed'];

/** The optional filters on an agent, as the runs' agent_id. */
const AgentQuery = (): MethodDecorator => QueryParam('agent_id', RUN_ID, { description: 'Only this agent' });
const agentFilter = (agentId: string | undefined): string | null =>
  agentId === undefined ? null : agentParam(agentId);
const textFilter = (name: string, value: string | undefined): string | null =>
  value === undefined ? null : textParam(name, value);

const SEVERITY_RANK: Record<string, number> = { info: 0, warning: 1, error: 2, critical: 3 };
const iso = (ms: unknown): string => new Date(Number(ms)).toISOString();

/**
 * One incident as people read it: its subject, when it opened and (if it did) resolved, its highest severity, and
 * each signal (one per dedupe key) with its rule, highest severity, last state and latest summary.
 */
function incidentView(r: IncidentRow) {
  const signals = new Map<string, Record<string, unknown>>();
  let severity = 'info';
  for (const rec of r.records) {
    const key = String(rec.dedupe_key);
    const sev = String(rec.severity);
    if (SEVERITY_RANK[sev] > SEVERITY_RANK[severity]) severity = sev;
    const seen = signals.get(key);
    signals.set(key, {
      dedupe_key: key,
      rule: rec.rule,
      severity: seen && SEVERITY_RANK[String(seen.severity)] > SEVERITY_RANK[sev] ? seen.severity : sev,
      state: rec.state,
      summary: rec.summary,
      started_at: iso(rec.started_at),
      last_at: iso(rec.detected_at),
      observed: rec.observed,
      threshold: rec.threshold,
      window_start: iso(rec.window_start),
      window_end: iso(rec.window_end),
    });
  }
  const last = r.records[r.records.length - 1];
  return {
    incident_id: r.incident_id,
    team: r.team,
    agent_id: r.agent_id,
    state: r.resolved ? 'resolved' : 'open',
    severity,
    opened_at: r.opened_at.toISOString(),
    resolved_at: r.resolved ? r.last_at.toISOString() : null,
    last_at: r.last_at.toISOString(),
    signals_open: last?.incident_signals ?? null,
    signals: [...signals.values()],
  };
}

@ApiTags('anomalies')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class AnomaliesController {
  constructor(
    private readonly stored: AnomaliesRepository,
    @Inject(CONFIG) private readonly config: Pick<ApiConfig, 'API_MAX_RANGE_DAYS'>,
  ) {}

  /** [from, to) as ISO strings; `to` defaults to a minute from now, so what was just recorded is included. */
  private range(fromQ: string | undefined, toQ: string | undefined, defaultDays: number): [string, string] {
    const { from, to } = parseRange(fromQ, toQ, {
      defaultDays,
      maxDays: this.config.API_MAX_RANGE_DAYS,
      defaultTo: Date.now() + 60_000,
    });
    return [new Date(from).toISOString(), new Date(to).toISOString()];
  }

  @Get('anomalies')
  @ApiOperation({ summary: 'Anomalies, newest first (default: the last 7 days)' })
  @RangeQuery(7, 'ISO-8601; default a minute from now')
  @TeamQuery()
  @AgentQuery()
  @QueryParam('rule', TEXT, { description: 'Only this rule, e.g. spend_zscore' })
  @QueryParam('state', { type: 'string', enum: ANOMALY_STATES })
  @PageQuery(ANOMALY_KEYSET, LIST)
  @ApiErrors({ 403: 'A team key names another team' })
  async anomalies(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('agent_id') agentId?: string,
    @Query('rule') rule?: string,
    @Query('state') state?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ) {
    const [from, to] = this.range(fromQ, toQ, 7);
    const page = await this.stored.anomalies(
      {
        from,
        to,
        team: teamScope(principal, teamQ),
        agentId: agentFilter(agentId),
        rule: textFilter('rule', rule),
        state: state === undefined ? null : oneOf('state', state, ANOMALY_STATES),
      },
      pageRequest(ANOMALY_KEYSET, LIST, limitQ, cursorQ),
    );
    linkNext(reply, request.url, page.next_cursor);
    return {
      anomalies: page.items.map((r) => ({
        ...r,
        window_start: iso(r.window_start),
        window_end: iso(r.window_end),
        started_at: iso(r.started_at),
        detected_at: iso(r.detected_at),
      })),
      next_cursor: page.next_cursor,
    };
  }

  @Get('incidents')
  @ApiOperation({
    summary: 'Incidents, newest first (default: opened in the last 7 days)',
    description:
      'An incident is the signals about one agent (or one budget scope) that were open together: a route is paged ' +
      'once per incident, updated as it escalates and resolved when its last signal clears. Each lists its signals.',
  })
  @RangeQuery(7, 'ISO-8601; default a minute from now')
  @TeamQuery()
  @AgentQuery()
  @QueryParam('state', { type: 'string', enum: [...INCIDENT_STATES] })
  @PageQuery(INCIDENT_KEYSET, LIST)
  @ApiErrors({ 403: 'A team key names another team' })
  async incidents(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('agent_id') agentId?: string,
    @Query('state') state?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ) {
    const [from, to] = this.range(fromQ, toQ, 7);
    const page = await this.stored.incidents(
      {
        from,
        to,
        team: teamScope(principal, teamQ),
        agentId: agentFilter(agentId),
        state: state === undefined ? null : oneOf('state', state, INCIDENT_STATES),
      },
      pageRequest(INCIDENT_KEYSET, LIST, limitQ, cursorQ),
    );
    linkNext(reply, request.url, page.next_cursor);
    return { incidents: page.items.map(incidentView), next_cursor: page.next_cursor };
  }

  @Get('incidents/:id')
  @ApiOperation({ summary: "One incident with every signal (404 when it is not your team's)" })
  @PathParam('id', TEXT, 'The incident_id, as the incidents list shows it')
  @ApiErrors({ 404: 'No such incident (in the team of a team key)' })
  async incident(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    textParam('id', id);
    const row = await this.stored.incident(id, teamScope(principal, undefined));
    if (!row) throw notFound(`no incident ${id}`);
    return incidentView(row);
  }

  @Get('agent-stats')
  @ApiOperation({
    summary:
      "Per agent and day (the team's time zone): the day's figures and the baseline before it, as the aggregator last published them (default: the last 15 days). Money in nano-units and in currency units.",
  })
  @RangeQuery(15, 'ISO-8601; default a minute from now')
  @TeamQuery()
  @AgentQuery()
  @PageQuery(AGENT_STATS_KEYSET, LIST)
  @ApiErrors({ 403: 'A team key names another team' })
  async agentStats(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('agent_id') agentId?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ) {
    const [from, to] = this.range(fromQ, toQ, 15);
    const page = await this.stored.agentStats(
      { from, to, team: teamScope(principal, teamQ), agentId: agentFilter(agentId) },
      pageRequest(AGENT_STATS_KEYSET, LIST, limitQ, cursorQ),
    );
    linkNext(reply, request.url, page.next_cursor);
    return {
      agent_stats: page.items.map((r) => ({
        ...r,
        day_start: (r.day_start as Date).toISOString(),
        day_end: (r.day_end as Date).toISOString(),
        stream_time: (r.stream_time as Date).toISOString(),
        spend: Number(r.spend_nanos) / 1e9,
        baseline_mean: Number(r.baseline_mean_nanos) / 1e9,
        baseline_stddev: Number(r.baseline_stddev_nanos) / 1e9,
      })),
      next_cursor: page.next_cursor,
    };
  }

  @Get('alert-deliveries')
  @ApiOperation({ summary: 'Alert delivery attempts and outcomes, newest first (destinations masked)' })
  @RangeQuery(7, 'ISO-8601; default a minute from now')
  @TeamQuery()
  @QueryParam('anomaly_id', TEXT, { description: 'Only the deliveries of this anomaly' })
  @QueryParam('outcome', { type: 'string', enum: OUTCOMES })
  @PageQuery(DELIVERY_KEYSET, LIST)
  @ApiErrors({ 403: 'A team key names another team' })
  async deliveries(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('anomaly_id') anomalyId?: string,
    @Query('outcome') outcome?: string,
    @Query('limit') limitQ?: string,
    @Query('cursor') cursorQ?: string,
  ) {
    const [from, to] = this.range(fromQ, toQ, 7);
    const page = await this.stored.deliveries(
      {
        from,
        to,
        team: teamScope(principal, teamQ),
        anomalyId: textFilter('anomaly_id', anomalyId),
        outcome: outcome === undefined ? null : oneOf('outcome', outcome, OUTCOMES),
      },
      pageRequest(DELIVERY_KEYSET, LIST, limitQ, cursorQ),
    );
    linkNext(reply, request.url, page.next_cursor);
    return {
      deliveries: page.items.map((r) => ({
        ...r,
        destination: JSON.parse(String(r.destination)) as unknown,
        latency_ms: r.latency_ms === null ? null : Number(r.latency_ms),
      })),
      next_cursor: page.next_cursor,
    };
  }
}
