import { Body, Controller, HttpCode, HttpException, Inject, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiKeyGuard, CurrentPrincipal, apiError, type Principal } from '@libs/auth';
import { CONFIG } from '@libs/config';
import type { PricedRun, RunStatus } from '@libs/contracts';
import { ApiErrors } from '@libs/observability';
import {
  PgTeamSettingsRepository,
  SETTINGS_LIMITS,
  applyRules,
  canonicalTimeZone,
  monthWindow,
  rulesUpdateOf,
  type DetectorSettings,
} from '@libs/team-settings';
import { agentKey } from '@libs/contracts';
import type { Anomaly } from '../../detector/src/core/anomaly';
import { ReplayAbortedError, replay } from '../../detector/src/core/replay';
import type { ApiConfig } from './api.config';
import { BacktestRepository, type StoredRunRow } from './backtest.repository';
import type { BacktestBody, TeamSettingsBody } from './body-schemas';
import { badRequest, invalidBody, teamScope } from './http';
import { bodyDoc, validateBody } from './validate-body.pipe';
import { budgetsOf, settingsView } from './settings-view';

const DAY = 86_400_000;
/** Stored runs read per query (keyset pages: each its own statement, under DB_STATEMENT_TIMEOUT_S). */
const PAGE_SIZE = 5_000;
/** Most anomalies, and most incidents, one answer lists (chronologically: the first ones); counts cover them all. */
export const BACKTEST_LIST_LIMIT = 1_000;

const SEVERITY_RANK: Record<string, number> = { info: 0, warning: 1, error: 2, critical: 3 };
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The PricedRun the recorder stored as this row (services/recorder/src/runs.writer.ts, read backwards). What `runs`
 * does not keep is rebuilt from what it does, as the pricing service derived it: the run's own `team` (null for runs
 * priced into team "_"), its `provider` (the one pricing resolved), its input_tokens (the whole prompt: uncached +
 * cache read + cache write, i.e. cached tokens counted inside input) and no cache_write_1h_tokens or source. None of
 * these is read by the aggregator or the rules, which read the priced token parts and costs.
 */
export function pricedRunOf(r: StoredRunRow): PricedRun {
  const uncached = Number(r.uncached_input_tokens);
  const cacheRead = Number(r.cache_read_tokens);
  const cacheWrite = Number(r.cache_write_tokens);
  const output = Number(r.output_tokens);
  return {
    run: {
      run_id: r.run_id,
      agent_id: r.agent_id,
      team: r.team === '_' ? null : r.team,
      model: r.model,
      provider: r.provider,
      input_tokens: uncached + cacheRead + cacheWrite,
      output_tokens: output,
      cache_read_tokens: cacheRead,
      cache_write_tokens: cacheWrite,
      cache_write_1h_tokens: null,
      started_at: Number(r.started_ms),
      finished_at: Number(r.finished_ms),
      status: r.status as RunStatus,
      customer_id: r.customer_id,
      feature: r.feature,
      cost_centre: r.cost_centre,
      session_id: r.session_id,
      tool: r.tool,
      parent_run_id: r.parent_run_id,
      quality_score: r.quality_score,
      tags: r.tags ?? {},
      received_at: r.received_ms === null ? null : Number(r.received_ms),
      source: null,
    },
    team: r.team,
    provider: r.provider,
    price_status: r.price_status === 'priced' ? 'priced' : 'unpriced',
    currency: r.currency,
    uncached_input_tokens: uncached,
    cache_read_tokens: cacheRead,
    cache_write_tokens: cacheWrite,
    output_tokens: output,
    input_cost_nanos: Number(r.input_cost_nanos),
    cache_read_cost_nanos: Number(r.cache_read_cost_nanos),
    cache_write_cost_nanos: Number(r.cache_write_cost_nanos),
    output_cost_nanos: Number(r.output_cost_nanos),
    total_cost_nanos: Number(r.total_cost_nanos),
    rate_card_id: r.rate_card_id,
    rate_card_version: r.rate_card_version,
    price_tier: r.price_tier,
    priced_at: Number(r.priced_ms),
  };
}

/**
 * A team's stored runs of [from, to) in event-time order (finished_at, then run_id: the key within a team), in pages
 * of PAGE_SIZE read by keyset (each page one short statement under the pool's statement timeout; no cursor or
 * transaction held open). The next page is asked for while the caller replays this one. More than `maxRuns` throws.
 */
async function* storedRuns(
  stored: BacktestRepository,
  team: string,
  from: number,
  to: number,
  maxRuns: number,
): AsyncGenerator<PricedRun[]> {
  const page = (after: [string, string]) => {
    const q = stored.runsPage(team, iso(from), iso(to), after, PAGE_SIZE);
    q.catch(() => undefined); // awaited below; not an unhandled rejection if the replay stops first
    return q;
  };
  let next = page(['-infinity', '']);
  let read = 0;
  for (;;) {
    const rows = await next;
    if (rows.length === 0) return;
    const last = rows[rows.length - 1];
    next = rows.length === PAGE_SIZE ? page([last.finished_key, last.run_id]) : page(['infinity', '']);
    read += rows.length;
    if (read > maxRuns) throw tooManyRuns(maxRuns);
    yield rows.map(pricedRunOf);
    if (rows.length < PAGE_SIZE) return;
  }
}

function tooManyRuns(maxRuns: number) {
  return badRequest(
    `the replay would read more than ${maxRuns} stored runs (BACKTEST_MAX_RUNS, counting the warm-up before ` +
      '"from"): ask for a shorter range',
    { field: 'from', max_runs: maxRuns },
  );
}

/** The team's settings in force with the body's laid over them (the fields given; budgets, when given, replace). */
export function overlaySettings(
  live: DetectorSettings,
  body: TeamSettingsBody | undefined,
): { settings: DetectorSettings; overridden: string[] } {
  if (!body) return { settings: live, overridden: [] };
  const overridden = Object.keys(body).filter((k) => body[k as keyof TeamSettingsBody] !== undefined);
  // rules: the parameters given replace the team's, null restores a default (as a PUT would store them)
  const ruled = applyRules(live, rulesUpdateOf(body.rules));
  const settings: DetectorSettings = {
    ...ruled,
    timezone:
      body.timezone === undefined ? live.timezone : (canonicalTimeZone(body.timezone) ?? body.timezone),
    qualityThreshold: body.quality_threshold ?? live.qualityThreshold,
    zscore: {
      ...ruled.zscore,
      threshold: body.zscore_threshold ?? live.zscore.threshold,
      baselineDays: body.baseline_days ?? live.zscore.baselineDays,
      minHistoryDays: body.min_history_days ?? live.zscore.minHistoryDays,
    },
    budgets: body.budgets === undefined ? live.budgets : budgetsOf(body.budgets, 'settings.budgets'),
  };
  // as PUT /v1/teams/:team/settings refuses it: the z-score rule could never fire
  const { baselineDays, minHistoryDays } = settings.zscore;
  if (minHistoryDays > baselineDays)
    throw invalidBody([
      body.min_history_days !== undefined
        ? { field: 'settings.min_history_days', message: `cannot exceed baseline_days (${baselineDays})` }
        : {
            field: 'settings.baseline_days',
            message: `cannot be less than min_history_days (${minHistoryDays})`,
          },
    ]);
  return { settings, overridden };
}

interface SignalView {
  rule: string;
  severity: string;
  state: string;
  first_fired_at: string;
  resolved_at: string | null;
  summary: string;
  observed: number;
  threshold: number;
}

interface IncidentView {
  incident_id: string;
  agent_id: string | null;
  opened_at: string;
  resolved_at: string | null;
  severity: string;
  signals: SignalView[];
}

function anomalyView(a: Anomaly) {
  return {
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    agent_id: a.agent_id,
    detected_at: iso(a.detected_at),
    summary: a.summary,
    observed: a.observed,
    threshold: a.threshold,
    zscore: a.zscore,
    window_start: iso(a.window_start),
    window_end: iso(a.window_end),
    incident_id: a.incident_id,
    incident_action: a.incident_action,
  };
}

/**
 * What the replay emitted, as the answer tells it: the anomaly records detected in [from, to) and the incidents they
 * belong to (an incident opened during the warm-up and still open at `from` is listed with its real opened_at), both
 * chronological and each cut at BACKTEST_LIST_LIMIT; the counts cover everything in the range.
 */
class Findings {
  readonly anomalies: ReturnType<typeof anomalyView>[] = [];
  readonly byRule: Record<string, number> = {};
  total = 0;
  truncated = false;
  /** Incidents followed: those listed, and those open during the warm-up (dropped if they resolve before `from`). */
  private readonly incidents = new Map<
    string,
    IncidentView & { listed: boolean; signalsByKey: Map<string, SignalView> }
  >();
  /** Incidents with a record in the range, listed or not. */
  private readonly inRange = new Set<string>();
  private listed = 0;

  constructor(
    private readonly from: number,
    private readonly to: number,
  ) {}

  add(records: readonly Anomaly[]): void {
    for (const a of records) {
      if (a.detected_at >= this.to) continue;
      const within = a.detected_at >= this.from;
      if (within) {
        this.total++;
        if (a.state === 'firing') this.byRule[a.rule] = (this.byRule[a.rule] ?? 0) + 1;
        if (this.anomalies.length < BACKTEST_LIST_LIMIT) this.anomalies.push(anomalyView(a));
        else this.truncated = true;
      }
      if (a.incident_id) this.join(a, a.incident_id, within);
    }
  }

  private join(a: Anomaly, id: string, within: boolean): void {
    if (within) this.inRange.add(id);
    let incident = this.incidents.get(id);
    if (within && !incident?.listed) {
      if (this.listed >= BACKTEST_LIST_LIMIT) {
        this.truncated = true;
        this.incidents.delete(id);
        return;
      }
      this.listed++;
    }
    if (!incident) {
      incident = {
        incident_id: id,
        agent_id: a.agent_id,
        opened_at: iso(a.detected_at),
        resolved_at: null,
        severity: a.severity,
        signals: [],
        listed: false,
        signalsByKey: new Map(),
      };
      this.incidents.set(id, incident);
    }
    if (within) incident.listed = true;
    let signal = incident.signalsByKey.get(a.dedupe_key);
    if (!signal) {
      signal = {
        rule: a.rule,
        severity: a.severity,
        state: a.state,
        first_fired_at: iso(a.detected_at),
        resolved_at: null,
        summary: a.summary,
        observed: a.observed,
        threshold: a.threshold,
      };
      incident.signalsByKey.set(a.dedupe_key, signal);
      incident.signals.push(signal);
    }
    signal.state = a.state;
    if (a.state === 'resolved') signal.resolved_at = iso(a.detected_at);
    else {
      // its latest figures while open: an escalation's are the worst
      signal.summary = a.summary;
      signal.observed = a.observed;
      signal.threshold = a.threshold;
      if (SEVERITY_RANK[a.severity] > SEVERITY_RANK[signal.severity]) signal.severity = a.severity;
      if (SEVERITY_RANK[a.severity] > SEVERITY_RANK[incident.severity]) incident.severity = a.severity;
    }
    if (a.incident_action === 'resolve') {
      incident.resolved_at = iso(a.detected_at);
      // one that opened and resolved during the warm-up is none of the range's business
      if (!incident.listed) this.incidents.delete(id);
    }
  }

  incidentList(): IncidentView[] {
    return [...this.incidents.values()]
      .filter((i) => i.listed)
      .map(({ listed: _l, signalsByKey: _s, ...view }) => view);
  }

  get incidentCount(): number {
    return this.inRange.size;
  }
}

const SIGNAL_SCHEMA = {
  type: 'object',
  properties: {
    rule: { type: 'string' },
    severity: { type: 'string', enum: ['info', 'warning', 'error', 'critical'], description: 'its highest' },
    state: { type: 'string', enum: ['firing', 'escalated', 'resolved'], description: 'its last' },
    first_fired_at: { type: 'string', format: 'date-time' },
    resolved_at: { type: 'string', format: 'date-time', nullable: true },
    summary: { type: 'string', description: 'why: its latest summary while open' },
    observed: { type: 'number' },
    threshold: { type: 'number' },
  },
};

@ApiTags('anomalies')
@ApiBearerAuth()
@UseGuards(ApiKeyGuard)
@Controller('v1')
export class BacktestController {
  constructor(
    private readonly stored: BacktestRepository,
    private readonly settings: PgTeamSettingsRepository,
    @Inject(CONFIG)
    private readonly config: Pick<
      ApiConfig,
      'BACKTEST_MAX_DAYS' | 'BACKTEST_MAX_RUNS' | 'BACKTEST_CONCURRENCY'
    >,
  ) {}

  @Post('backtest')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'What the rules would have fired over a past range, with these settings (nothing is saved or paged)',
    description:
      'Replays the team’s stored runs through the detection chain the services run (the aggregator’s state, then ' +
      'the detector’s rules), in event-time order, with the team’s settings in force overlaid with `settings`. The ' +
      'replay starts baseline_days + 1 days before `from` (and at the start of from’s month with a monthly budget) so ' +
      'baselines are warm; only what is detected in [from, to) is reported, chronologically (oldest first), each list ' +
      `cut at ${BACKTEST_LIST_LIMIT} (truncated: true). [from, to) spans at most BACKTEST_MAX_DAYS (default 31) ` +
      'days and the replay reads at most BACKTEST_MAX_RUNS (default 2,000,000) runs. A team key replays its own ' +
      'team; an admin names `team`.',
  })
  @ApiBody(bodyDoc('BacktestBody'))
  @ApiErrors({
    403: 'A team key names another team',
    429:
      'Over the rate limit, or a backtest of the team (or BACKTEST_CONCURRENCY backtests) is running already: retry ' +
      'after Retry-After seconds',
  })
  @ApiOkResponse({
    description: 'The incidents and anomaly records the replay produced in [from, to), oldest first',
    schema: {
      type: 'object',
      properties: {
        team: { type: 'string' },
        from: { type: 'string', format: 'date-time' },
        to: { type: 'string', format: 'date-time' },
        warmup_from: { type: 'string', format: 'date-time', description: 'where the replay started' },
        settings: { type: 'object', description: 'the effective settings, as GET /v1/teams/{team}/settings' },
        overridden: { type: 'array', items: { type: 'string' }, description: 'settings the body changed' },
        runs_replayed: { type: 'integer', description: 'stored runs replayed, warm-up included' },
        incidents: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              incident_id: { type: 'string' },
              agent_id: { type: 'string', nullable: true, description: 'null for a team or customer budget' },
              opened_at: { type: 'string', format: 'date-time' },
              resolved_at: { type: 'string', format: 'date-time', nullable: true },
              severity: { type: 'string', description: 'the highest of its signals' },
              signals: { type: 'array', items: SIGNAL_SCHEMA },
            },
          },
        },
        anomalies: {
          type: 'array',
          description: 'every record (firing, escalated, resolved) as the detector would have emitted it',
          items: {
            type: 'object',
            properties: {
              rule: { type: 'string' },
              severity: { type: 'string' },
              state: { type: 'string', enum: ['firing', 'escalated', 'resolved'] },
              agent_id: { type: 'string', nullable: true },
              detected_at: {
                type: 'string',
                format: 'date-time',
                description: 'event time of the run that told',
              },
              summary: { type: 'string' },
              observed: { type: 'number' },
              threshold: { type: 'number' },
              zscore: { type: 'number', nullable: true },
              window_start: { type: 'string', format: 'date-time' },
              window_end: { type: 'string', format: 'date-time' },
              incident_id: { type: 'string', nullable: true },
              incident_action: { type: 'string', enum: ['open', 'update', 'resolve'], nullable: true },
            },
          },
        },
        counts: {
          type: 'object',
          properties: {
            by_rule: {
              type: 'object',
              additionalProperties: { type: 'integer' },
              description: 'signals that fired in the range, by rule',
            },
            anomalies: { type: 'integer', description: 'records in the range, listed or not' },
            incidents: { type: 'integer', description: 'incidents with a record in the range' },
          },
        },
        truncated: { type: 'boolean', description: `a list was cut at ${BACKTEST_LIST_LIMIT}` },
      },
    },
  })
  async backtest(
    @CurrentPrincipal() principal: Principal,
    @Body(validateBody('BacktestBody')) body: BacktestBody,
    @Req() req: FastifyRequest,
  ) {
    if (principal.role === 'admin' && body.team === undefined)
      throw invalidBody([{ field: 'team', message: 'is required with an admin key' }]);
    const team = teamScope(principal, body.team)!;
    const from = Date.parse(body.from);
    const to = Date.parse(body.to);
    const maxDays = this.config.BACKTEST_MAX_DAYS;
    if (from >= to) throw invalidBody([{ field: 'to', message: 'must be after from' }]);
    if (to - from > maxDays * DAY)
      throw invalidBody([
        { field: 'to', message: `must be at most ${maxDays} days after from (BACKTEST_MAX_DAYS)` },
      ]);

    const { settings, overridden } = overlaySettings(await this.settings.forTeam(team), body.settings);
    // the team's agents with settings of their own keep them, laid over the settings tried
    const agents = await this.settings.loadAgents(new Map([[team, settings]]), team);
    // baselines warm from the first reported day: the days they average, and the day before (zones) ...
    const baselineDays = Math.min(settings.zscore.baselineDays, SETTINGS_LIMITS.baselineDays.max);
    let start = from - (baselineDays + 1) * DAY;
    // ... and month-to-date spend complete for a monthly budget (the aggregator and detector add it up from runs)
    if (settings.budgets.some((b) => b.period === 'month'))
      start = Math.min(start, monthWindow(from, settings.timezone).start);

    const maxRuns = this.config.BACKTEST_MAX_RUNS;
    if ((await this.stored.countRuns(team, iso(start), iso(to), maxRuns + 1)) > maxRuns)
      throw tooManyRuns(maxRuns);

    this.admit(team);
    try {
      return await this.replayed(team, from, to, start, settings, agents, overridden, req);
    } finally {
      this.running.delete(team);
    }
  }

  /** Teams whose backtest this replica is running. */
  private readonly running = new Set<string>();

  /** One backtest per team, BACKTEST_CONCURRENCY in all: another is a 429 to retry later. */
  private admit(team: string): void {
    const busy = this.running.has(team)
      ? `a backtest of team "${team}" is already running`
      : this.running.size >= this.config.BACKTEST_CONCURRENCY
        ? `${this.running.size} backtests are running (BACKTEST_CONCURRENCY)`
        : null;
    if (busy)
      throw apiError(429, 'too_many_requests', `${busy}; retry when it has answered`, null, {
        'Retry-After': '30',
      });
    this.running.add(team);
  }

  private async replayed(
    team: string,
    from: number,
    to: number,
    start: number,
    settings: DetectorSettings,
    agents: ReadonlyMap<string, DetectorSettings>,
    overridden: string[],
    req: FastifyRequest,
  ) {
    const maxRuns = this.config.BACKTEST_MAX_RUNS;
    const findings = new Findings(from, to);
    // a replay of millions of runs takes minutes: it stops when the client that asked has gone
    const gone = new AbortController();
    const socket = req.raw.socket;
    const abort = () => gone.abort();
    socket.once('close', abort);
    let runs: number;
    try {
      ({ runs } = await replay(
        storedRuns(this.stored, team, start, to, maxRuns),
        // every run replayed is the team's
        (_team, agentId) => (agentId !== undefined && agents.get(agentKey(team, agentId))) || settings,
        { onAnomalies: (records) => findings.add(records), signal: gone.signal },
      ));
    } catch (err) {
      if (err instanceof ReplayAbortedError)
        throw new HttpException(
          { error: { code: 'client_closed', message: err.message, details: null } },
          499,
        );
      throw err;
    } finally {
      socket.off('close', abort);
    }
    return {
      team,
      from: iso(from),
      to: iso(to),
      warmup_from: iso(start),
      settings: settingsView(team, settings),
      overridden,
      runs_replayed: runs,
      incidents: findings.incidentList(),
      // chronological: one slice's agent records come before its team-budget records, up to a minute apart
      anomalies: findings.anomalies.sort((a, b) => a.detected_at.localeCompare(b.detected_at)),
      counts: { by_rule: findings.byRule, anomalies: findings.total, incidents: findings.incidentCount },
      truncated: findings.truncated,
    };
  }
}
