import { Controller, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Pool } from 'pg';
import { ApiKeyGuard, CurrentPrincipal, type Principal } from '@libs/auth';
import { CONFIG } from '@libs/config';
import { PG_POOL } from '@libs/db';
import type { ApiConfig } from './api.config';
import { ApiErrors } from '@libs/observability';
import {
  PathParam,
  QueryParam,
  RUN_ID,
  TEXT,
  TeamQuery,
  agentParam,
  badRequest,
  notFound,
  teamScope,
  textParam,
} from './http';
import { LimitQuery, RangeQuery, parseLimit, parseRange, type Limit } from './time-range';

const LIST: Limit = { fallback: 100, max: 1000 };
const limitOf = (q: string | undefined): number => parseLimit('limit', q, LIST);
const ANOMALY_STATES = ['firing', 'escalated', 'resolved'];
const INCIDENT_STATES = ['open', 'resolved'];
const OUTCOMES = ['delivered', 'accepted', 'retrying', 'failed', 'suppressed'];

/** The optional filters on an agent, as the runs' agent_id. */
const AgentQuery = (): MethodDecorator => QueryParam('agent_id', RUN_ID, { description: 'Only this agent' });
const agentFilter = (agentId: string | undefined): string | null =>
  agentId === undefined ? null : agentParam(agentId);
const textFilter = (name: string, value: string | undefined): string | null =>
  value === undefined ? null : textParam(name, value);

const SEVERITY_RANK: Record<string, number> = { info: 0, warning: 1, error: 2, critical: 3 };
const iso = (ms: unknown): string => new Date(Number(ms)).toISOString();

interface IncidentRow {
  incident_id: string;
  team: string;
  agent_id: string | null;
  opened_at: Date;
  last_at: Date;
  resolved: boolean;
  records: Record<string, unknown>[];
}

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
    @Inject(PG_POOL) private readonly pool: Pool,
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
  @LimitQuery(LIST)
  @ApiErrors({ 403: 'A team key names another team' })
  async anomalies(
    @CurrentPrincipal() principal: Principal,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('agent_id') agentId?: string,
    @Query('rule') rule?: string,
    @Query('state') state?: string,
    @Query('limit') limitQ?: string,
  ) {
    const [from, to] = this.range(fromQ, toQ, 7);
    if (state !== undefined && !ANOMALY_STATES.includes(state)) {
      throw badRequest(`state must be one of ${ANOMALY_STATES.join(', ')}`, {
        parameter: 'state',
        value: state,
      });
    }
    const { rows } = await this.pool.query<{ record: Record<string, unknown> }>(
      `select record from anomalies
       where detected_at >= $1 and detected_at < $2 and ($3::text is null or team = $3) and ($4::text is null or agent_id = $4)
         and ($5::text is null or rule = $5) and ($6::text is null or state = $6)
       order by detected_at desc, anomaly_id limit ${limitOf(limitQ)}`,
      [from, to, teamScope(principal, teamQ), agentFilter(agentId), textFilter('rule', rule), state ?? null],
    );
    return {
      anomalies: rows.map(({ record: r }) => ({
        ...r,
        window_start: new Date(Number(r.window_start)).toISOString(),
        window_end: new Date(Number(r.window_end)).toISOString(),
        started_at: new Date(Number(r.started_at)).toISOString(),
        detected_at: new Date(Number(r.detected_at)).toISOString(),
      })),
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
  @QueryParam('state', { type: 'string', enum: INCIDENT_STATES })
  @LimitQuery(LIST)
  @ApiErrors({ 403: 'A team key names another team' })
  async incidents(
    @CurrentPrincipal() principal: Principal,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('agent_id') agentId?: string,
    @Query('state') state?: string,
    @Query('limit') limitQ?: string,
  ) {
    const [from, to] = this.range(fromQ, toQ, 7);
    if (state !== undefined && !INCIDENT_STATES.includes(state))
      throw badRequest(`state must be one of ${INCIDENT_STATES.join(', ')}`, {
        parameter: 'state',
        value: state,
      });
    const rows = await this.incidentRows(
      `incident_id in (
         select distinct incident_id from anomalies
         where incident_id is not null and detected_at >= $1 and detected_at < $2 and ($3::text is null or team = $3)
           and ($4::text is null or agent_id = $4))`,
      [from, to, teamScope(principal, teamQ), agentFilter(agentId)],
      state === undefined ? '' : `having bool_or(incident_action = 'resolve') = ${state === 'resolved'}`,
      limitOf(limitQ),
    );
    return { incidents: rows.map(incidentView) };
  }

  @Get('incidents/:id')
  @ApiOperation({ summary: "One incident with every signal (404 when it is not your team's)" })
  @PathParam('id', TEXT, 'The incident_id, as the incidents list shows it')
  @ApiErrors({ 404: 'No such incident (in the team of a team key)' })
  async incident(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    textParam('id', id);
    const rows = await this.incidentRows(
      'incident_id = $1 and ($2::text is null or team = $2)',
      [id, teamScope(principal, undefined)],
      '',
      1,
    );
    if (rows.length === 0) throw notFound(`no incident ${id}`);
    return incidentView(rows[0]);
  }

  /** Incidents whose records match `where`, each with its records in order. */
  private async incidentRows(
    where: string,
    params: unknown[],
    having: string,
    limit: number,
  ): Promise<IncidentRow[]> {
    const { rows } = await this.pool.query<IncidentRow>(
      `select incident_id, team, min(agent_id) as agent_id, min(detected_at) as opened_at, max(detected_at) as last_at,
         bool_or(incident_action = 'resolve') as resolved, jsonb_agg(record order by detected_at, anomaly_id) as records
       from (select incident_id, team, agent_id, detected_at, anomaly_id, record, record->>'incident_action' as incident_action
             from anomalies where ${where}) a
       group by incident_id, team ${having}
       order by opened_at desc limit ${limit}`,
      params,
    );
    return rows;
  }

  @Get('agent-stats')
  @ApiOperation({
    summary:
      "Per agent and day (the team's time zone): the day's figures and the baseline before it, as the aggregator last published them (default: the last 15 days). Money in nano-units and in currency units.",
  })
  @RangeQuery(15, 'ISO-8601; default a minute from now')
  @TeamQuery()
  @AgentQuery()
  @LimitQuery(LIST)
  @ApiErrors({ 403: 'A team key names another team' })
  async agentStats(
    @CurrentPrincipal() principal: Principal,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('agent_id') agentId?: string,
    @Query('limit') limitQ?: string,
  ) {
    const [from, to] = this.range(fromQ, toQ, 15);
    const { rows } = await this.pool.query<Record<string, unknown>>(
      `select team, agent_id, day_start, day_end, timezone, currency, stream_time, spend_nanos::text, runs::int,
         successful_runs::int, failed_runs::int, input_tokens::text, output_tokens::text, cached_tokens::text,
         unattributed_spend_nanos::text, unpriced_runs::int, late_runs::int, baseline_days, baseline_mean_nanos,
         baseline_stddev_nanos, baseline_cost_per_run_mean_nanos, spend_zscore, median_session_cost_nanos, open_sessions
       from agent_stats
       where day_start >= $1 and day_start < $2 and ($3::text is null or team = $3) and ($4::text is null or agent_id = $4)
       order by day_start desc, team, agent_id limit ${limitOf(limitQ)}`,
      [from, to, teamScope(principal, teamQ), agentFilter(agentId)],
    );
    return {
      agent_stats: rows.map((r) => ({
        ...r,
        day_start: (r.day_start as Date).toISOString(),
        day_end: (r.day_end as Date).toISOString(),
        stream_time: (r.stream_time as Date).toISOString(),
        spend: Number(r.spend_nanos) / 1e9,
        baseline_mean: Number(r.baseline_mean_nanos) / 1e9,
        baseline_stddev: Number(r.baseline_stddev_nanos) / 1e9,
      })),
    };
  }

  @Get('alert-deliveries')
  @ApiOperation({ summary: 'Alert delivery attempts and outcomes, newest first (destinations masked)' })
  @RangeQuery(7, 'ISO-8601; default a minute from now')
  @TeamQuery()
  @QueryParam('anomaly_id', TEXT, { description: 'Only the deliveries of this anomaly' })
  @QueryParam('outcome', { type: 'string', enum: OUTCOMES })
  @LimitQuery(LIST)
  @ApiErrors({ 403: 'A team key names another team' })
  async deliveries(
    @CurrentPrincipal() principal: Principal,
    @Query('from') fromQ?: string,
    @Query('to') toQ?: string,
    @Query('team') teamQ?: string,
    @Query('anomaly_id') anomalyId?: string,
    @Query('outcome') outcome?: string,
    @Query('limit') limitQ?: string,
  ) {
    const [from, to] = this.range(fromQ, toQ, 7);
    if (outcome !== undefined && !OUTCOMES.includes(outcome)) {
      throw badRequest(`outcome must be one of ${OUTCOMES.join(', ')}`, {
        parameter: 'outcome',
        value: outcome,
      });
    }
    const { rows } = await this.pool.query(
      `select delivery_id, anomaly_id, dedupe_key, team, agent_id, rule, state, destination_type, destination, attempt,
              outcome, http_status, error, latency_ms, at
       from alert_deliveries
       where at >= $1 and at < $2 and ($3::text is null or team = $3) and ($4::text is null or anomaly_id = $4)
         and ($5::text is null or outcome = $5)
       order by at desc limit ${limitOf(limitQ)}`,
      [from, to, teamScope(principal, teamQ), textFilter('anomaly_id', anomalyId), outcome ?? null],
    );
    return {
      deliveries: rows.map((r: Record<string, unknown>) => ({
        ...r,
        destination: JSON.parse(String(r.destination)) as unknown,
        latency_ms: r.latency_ms === null ? null : Number(r.latency_ms),
      })),
    };
  }
}
