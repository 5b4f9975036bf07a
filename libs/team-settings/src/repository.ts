import type { Pool } from 'pg';
import {
  DEFAULT_SETTINGS,
  SETTINGS_LIMITS,
  canonicalTimeZone,
  mergeSettings,
  type Budget,
  type DetectorSettings,
  type SettingsOverrides,
} from './settings';
import { TEAM_RULES, type RuleSettingsKey, type RulesUpdate } from './rules';
import { storedGuardRules, type GuardRule } from './guard';
import { agentKey } from '@libs/contracts';
import {
  agentOverridesOf,
  agentSettingsFromRows,
  withAgentOverrides,
  type AgentOverrides,
  type AgentSettingsRow,
  type AgentSettingsUpdate,
} from './agent-settings';
import { stdoutLogger, storedNumber, validStoredParam, within, type SettingsLogger } from './stored-values';

export type { SettingsLogger } from './stored-values';

/** Where per-team detector settings come from; the PostgreSQL one reads the api service's tables. */
export interface TeamSettingsRepository {
  /** A cheap value that changes whenever any team's or agent's settings or budgets change. */
  fingerprint(): Promise<string>;
  loadAll(): Promise<Map<string, DetectorSettings>>;
  /** The settings in force of every agent with overrides, by agentKey, laid over `teams` (what loadAll returned). */
  loadAgents(teams: ReadonlyMap<string, DetectorSettings>): Promise<Map<string, DetectorSettings>>;
}

/** A team_settings row as PostgreSQL returns it; typed loosely because it is stored data, checked on reading. */
export interface SettingsRow {
  team: string;
  zscore_threshold: unknown;
  baseline_days: unknown;
  min_history_days: unknown;
  timezone: unknown;
  quality_threshold: unknown;
  min_excess_nanos: unknown;
  detector_rules: SettingsOverrides | null;
}

export interface BudgetRow {
  team: string;
  scope: string;
  subject: string;
  period: string;
  amount_nanos: string;
  currency: string;
  /** Absent before migration 1763800018600. */
  block_at_100?: boolean | null;
}

/**
 * What the api writes: only the values given change; `budgets`, when given, replaces the team's budgets. `rules`
 * (settings units, see rulesUpdateOf) changes the parameters given and keeps the others stored; null restores one's
 * default. zscore.minExcessNanos goes to the min_excess_nanos column (which owns it), the rest to detector_rules.
 */
export interface TeamSettingsUpdate {
  zscoreThreshold?: number;
  baselineDays?: number;
  minHistoryDays?: number;
  timezone?: string;
  qualityThreshold?: number;
  /** The late-data grace in ms; null restores the default. Kept in the detector_rules JSON (lateAfterMs). */
  lateAfterMs?: number | null;
  budgets?: Budget[];
  rules?: RulesUpdate;
  /** The team's guard rules, replacing what is stored (kept in the detector_rules JSON under `guard`). */
  guard?: GuardRule[];
}

/** The update would leave min_history_days above baseline_days (the z-score rule could then never fire). */
export class SettingsConflictError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'SettingsConflictError';
  }
}

/** Reads team_settings (+ its detector_rules JSON) and budgets; columns win over the JSON for the same parameter. */
export class PgTeamSettingsRepository implements TeamSettingsRepository {
  constructor(
    private readonly pool: Pool,
    private readonly logger: SettingsLogger = stdoutLogger,
  ) {}

  async fingerprint(): Promise<string> {
    // settings_version moves with every change (statement triggers, migration 1763800016000): one row to read
    const { rows: version } = await this.pool
      .query<{ v: string }>(
        `select version::text as v from settings_version where to_regclass('settings_version') is not null and id`,
      )
      .catch(() => ({ rows: [] as { v: string }[] }));
    if (version.length) return `v${version[0].v}`;
    const { rows } = await this.pool.query<{ f: string }>(
      `select concat_ws('|',
         (select count(*) || ':' || coalesce(max(updated_at)::text, '') from team_settings),
         (select count(*) || ':' || coalesce(sum(hashtext(team || scope || subject || period || amount_nanos || currency)), 0) from budgets),
         (select count(*) || ':' || coalesce(max(updated_at)::text, '') from agent_settings)
       ) as f`,
    );
    return rows[0].f;
  }

  async loadAll(): Promise<Map<string, DetectorSettings>> {
    return this.load(null);
  }

  /** One team's settings in force, as the detector and aggregator read them. */
  async forTeam(team: string): Promise<DetectorSettings> {
    return (await this.load(team)).get(team) ?? DEFAULT_SETTINGS;
  }

  /** Applies an update in one transaction; throws SettingsConflictError (and changes nothing) if it is inconsistent. */
  async save(team: string, update: TeamSettingsUpdate): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const { minExcessNanos, ...zscoreRules } = update.rules?.zscore ?? {};
      const jsonRules: RulesUpdate = { ...update.rules, zscore: zscoreRules };
      const { rows } = await client.query<{ baseline_days: number; min_history_days: number }>(
        `insert into team_settings (team, zscore_threshold, baseline_days, min_history_days, timezone, quality_threshold,
                                    min_excess_nanos)
         values ($1, coalesce($2, $7::double precision), coalesce($3, $8::integer), coalesce($4, $9::integer),
                 coalesce($5, $10::text), coalesce($6, $11::double precision), coalesce($12, $13::bigint))
         on conflict (team) do update set
           zscore_threshold = coalesce($2, team_settings.zscore_threshold),
           baseline_days = coalesce($3, team_settings.baseline_days),
           min_history_days = coalesce($4, team_settings.min_history_days),
           timezone = coalesce($5, team_settings.timezone),
           quality_threshold = coalesce($6, team_settings.quality_threshold),
           min_excess_nanos = coalesce($12::bigint, team_settings.min_excess_nanos),
           updated_at = now()
         returning baseline_days, min_history_days`,
        [
          team,
          update.zscoreThreshold ?? null,
          update.baselineDays ?? null,
          update.minHistoryDays ?? null,
          update.timezone ?? null,
          update.qualityThreshold ?? null,
          DEFAULT_SETTINGS.zscore.threshold,
          DEFAULT_SETTINGS.zscore.baselineDays,
          DEFAULT_SETTINGS.zscore.minHistoryDays,
          DEFAULT_SETTINGS.timezone,
          DEFAULT_SETTINGS.qualityThreshold,
          minExcessNanos === undefined
            ? null
            : String(minExcessNanos ?? DEFAULT_SETTINGS.zscore.minExcessNanos),
          String(DEFAULT_SETTINGS.zscore.minExcessNanos),
        ],
      );
      if (
        update.lateAfterMs !== undefined ||
        update.guard !== undefined ||
        Object.values(jsonRules).some((r) => r && Object.keys(r).length)
      ) {
        // the row is locked by the upsert: no other save changes the stored rules between this read and the write
        const { rows: stored } = await client.query<{ detector_rules: unknown }>(
          'select detector_rules from team_settings where team = $1',
          [team],
        );
        await client.query('update team_settings set detector_rules = $2::jsonb where team = $1', [
          team,
          JSON.stringify(
            withGuard(
              withLateAfter(mergeStoredRules(stored[0]?.detector_rules, jsonRules), update.lateAfterMs),
              update.guard,
            ),
          ),
        ]);
      }
      const { baseline_days: baseline, min_history_days: minHistory } = rows[0];
      if (Number(minHistory) > Number(baseline))
        throw update.minHistoryDays !== undefined
          ? new SettingsConflictError('min_history_days', `cannot exceed baseline_days (${baseline})`)
          : new SettingsConflictError(
              'baseline_days',
              `cannot be less than min_history_days (${minHistory})`,
            );
      if (update.budgets !== undefined) {
        await client.query('delete from budgets where team = $1', [team]);
        for (const b of update.budgets) {
          await client.query(
            `insert into budgets (team, scope, subject, period, amount_nanos, currency, block_at_100)
             values ($1, $2, $3, $4, $5, $6, $7)`,
            [
              team,
              b.scope,
              b.subject,
              b.period,
              BigInt(b.amountNanos).toString(),
              b.currency,
              !!b.blockAt100,
            ],
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
  }

  async loadAgents(
    teams: ReadonlyMap<string, DetectorSettings>,
    team?: string,
  ): Promise<Map<string, DetectorSettings>> {
    const { rows } = await this.pool.query<AgentSettingsRow>(
      `select ${AGENT_COLUMNS} from agent_settings where $1::text is null or team = $1 order by team, agent_id`,
      [team ?? null],
    );
    return agentSettingsFromRows(rows, teams, this.logger);
  }

  /** One agent's settings in force: its team's with its overrides laid over them. */
  async forAgent(team: string, agentId: string): Promise<DetectorSettings> {
    const [settings, row] = await Promise.all([this.forTeam(team), this.agentRow(team, agentId)]);
    return row ? withAgentOverrides(settings, row, this.logger) : settings;
  }

  /** What an agent overrides (the values in force: one stored out of range is left out); null when it has no row. */
  async agentOverrides(team: string, agentId: string): Promise<AgentOverrides | null> {
    const row = await this.agentRow(team, agentId);
    return row && agentOverridesOf(row, this.logger);
  }

  /** The team's agents with overrides, by agent_id, at most `limit`, after the agent_id `after` when given. */
  async listAgents(
    team: string,
    limit: number,
    after: string | null = null,
  ): Promise<{ agentId: string; overrides: AgentOverrides; updatedAt: string }[]> {
    const { rows } = await this.pool.query<AgentSettingsRow & { updated_at: Date }>(
      `select ${AGENT_COLUMNS}, updated_at from agent_settings
       where team = $1 and ($3::text is null or agent_id > $3) order by agent_id limit $2`,
      [team, limit, after],
    );
    return rows.map((r) => ({
      agentId: r.agent_id,
      overrides: agentOverridesOf(r, this.logger),
      updatedAt: new Date(r.updated_at).toISOString(),
    }));
  }

  /**
   * Applies an agent's update in one transaction, as save does a team's; throws SettingsConflictError (and changes
   * nothing) when it would leave the agent's min_history_days above its baseline_days, each its own or its team's. A
   * row left with nothing set is removed: the agent has no overrides.
   */
  async saveAgent(team: string, agentId: string, update: AgentSettingsUpdate): Promise<void> {
    const teamZscore = (await this.forTeam(team)).zscore;
    const columns = {
      zscore_threshold: update.zscoreThreshold,
      baseline_days: update.baselineDays,
      min_history_days: update.minHistoryDays,
    };
    const set = Object.entries(columns)
      .filter(([, v]) => v !== undefined)
      .map(([c]) => `${c} = excluded.${c}`);
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const { rows } = await client.query<{
        baseline_days: number | null;
        min_history_days: number | null;
        detector_rules: unknown;
      }>(
        `insert into agent_settings (team, agent_id, zscore_threshold, baseline_days, min_history_days)
         values ($1, $2, $3, $4, $5)
         on conflict (team, agent_id) do update set ${[...set, 'updated_at = now()'].join(', ')}
         returning baseline_days, min_history_days, detector_rules`,
        [
          team,
          agentId,
          columns.zscore_threshold ?? null,
          columns.baseline_days ?? null,
          columns.min_history_days ?? null,
        ],
      );
      const stored = rows[0];
      if (update.rules && Object.values(update.rules).some((r) => r && Object.keys(r).length))
        // the row is locked by the upsert: no other save changes the stored rules between its read and this write
        await client.query(
          'update agent_settings set detector_rules = $3::jsonb where team = $1 and agent_id = $2',
          [team, agentId, JSON.stringify(mergeStoredRules(stored.detector_rules, update.rules))],
        );
      if (update.minHistoryDays !== undefined || update.baselineDays !== undefined)
        agentHistoryConflict(
          update,
          stored.baseline_days ?? teamZscore.baselineDays,
          stored.min_history_days ?? teamZscore.minHistoryDays,
        );
      await client.query(
        `delete from agent_settings
          where team = $1 and agent_id = $2 and zscore_threshold is null and baseline_days is null
            and min_history_days is null and detector_rules = '{}'::jsonb`,
        [team, agentId],
      );
      await client.query('commit');
    } catch (err) {
      await client.query('rollback');
      throw err;
    } finally {
      client.release();
    }
  }

  /** Removes an agent's overrides (its team's settings apply); false when it had none. */
  async deleteAgent(team: string, agentId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'delete from agent_settings where team = $1 and agent_id = $2',
      [team, agentId],
    );
    return (rowCount ?? 0) > 0;
  }

  private async agentRow(team: string, agentId: string): Promise<AgentSettingsRow | null> {
    const { rows } = await this.pool.query<AgentSettingsRow>(
      `select ${AGENT_COLUMNS} from agent_settings where team = $1 and agent_id = $2`,
      [team, agentId],
    );
    return rows[0] ?? null;
  }

  private async load(team: string | null): Promise<Map<string, DetectorSettings>> {
    const { rows: columns } = await this.pool.query<{ column_name: string }>(
      `select column_name from information_schema.columns
        where (table_name = 'team_settings' and column_name = 'detector_rules')
           or (table_name = 'budgets' and column_name = 'block_at_100')`,
    );
    const has = (c: string) => columns.some((r) => r.column_name === c);
    const { rows } = await this.pool.query<SettingsRow>(
      `select team, zscore_threshold, baseline_days, min_history_days, timezone, quality_threshold, min_excess_nanos,
              ${has('detector_rules') ? 'detector_rules' : 'null::jsonb as detector_rules'} from team_settings
        where $1::text is null or team = $1`,
      [team],
    );
    const { rows: budgets } = await this.pool.query<BudgetRow>(
      `select team, scope, subject, period, amount_nanos::text, currency,
              ${has('block_at_100') ? 'block_at_100' : 'false as block_at_100'} from budgets
        where $1::text is null or team = $1 order by id`,
      [team],
    );
    return settingsFromRows(rows, budgets, this.logger);
  }
}

const AGENT_COLUMNS = 'team, agent_id, zscore_threshold, baseline_days, min_history_days, detector_rules';

/**
 * Throws SettingsConflictError when an agent's update leaves its min_history_days (its own or, when it has none, its
 * team's) above its baseline_days (likewise), naming the field the update gave: min_history_days before baseline_days.
 */
function agentHistoryConflict(update: AgentSettingsUpdate, baseline: number, minHistory: number): void {
  if (Number(minHistory) <= Number(baseline)) return;
  if (update.minHistoryDays !== undefined)
    throw new SettingsConflictError(
      'min_history_days',
      update.minHistoryDays === null
        ? `would be the team’s (${minHistory}), above this agent’s baseline_days (${baseline})`
        : `cannot exceed baseline_days (${baseline})`,
    );
  throw new SettingsConflictError(
    'baseline_days',
    update.baselineDays === null
      ? `would be the team’s (${baseline}), below this agent’s min_history_days (${minHistory})`
      : `cannot be less than min_history_days (${minHistory})`,
  );
}

/** The stored JSON with the guard rules replaced (given) or kept (undefined). */
function withGuard(rules: Record<string, unknown>, guard: GuardRule[] | undefined) {
  if (guard !== undefined) rules.guard = { rules: guard };
  return rules;
}

/** The stored JSON with the late-data grace set (a number), removed (null: the default again) or kept (undefined). */
function withLateAfter(rules: Record<string, unknown>, lateAfterMs: number | null | undefined) {
  if (lateAfterMs === null) delete rules.lateAfterMs;
  else if (lateAfterMs !== undefined) rules.lateAfterMs = lateAfterMs;
  return rules;
}

/**
 * The stored detector_rules JSON with an update laid over it, one level deep per rule: a value replaces that
 * parameter, null removes it (the default applies again), every other stored key is kept as it was.
 */
export function mergeStoredRules(stored: unknown, update: RulesUpdate): Record<string, unknown> {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const out: Record<string, unknown> = isObject(stored) ? { ...stored } : {};
  for (const [key, values] of Object.entries(update)) {
    if (!values || !Object.keys(values).length) continue;
    const before = out[key];
    const rule: Record<string, unknown> = isObject(before) ? { ...before } : {};
    for (const [field, v] of Object.entries(values))
      if (v === null) delete rule[field];
      else rule[field] = v;
    if (Object.keys(rule).length) out[key] = rule;
    else delete out[key];
  }
  return out;
}

/**
 * Builds each team's settings from its rows. A stored value of the wrong type or out of range (written before the
 * api checked it, or by hand) is replaced by the default and logged: a reader never throws on what it reads.
 */
export function settingsFromRows(
  rows: SettingsRow[],
  budgets: BudgetRow[],
  logger: SettingsLogger = stdoutLogger,
): Map<string, DetectorSettings> {
  const out = new Map<string, DetectorSettings>();
  const teams = new Set([...rows.map((r) => r.team), ...budgets.map((b) => b.team)]);
  for (const team of teams) {
    const row = rows.find((r) => r.team === team);
    const invalid = (setting: string, value: unknown, using: unknown): void =>
      logger.warn('stored team setting is invalid; using the default', {
        team,
        setting,
        value: String(value).slice(0, 100),
        using,
      });
    const merged = checkedRules(mergeSettings(row?.detector_rules), row?.detector_rules, invalid);
    const column = (
      setting: string,
      value: unknown,
      fallback: number,
      valid: (n: number) => boolean,
    ): number => {
      const n = storedNumber(value);
      if (Number.isFinite(n) && valid(n)) return n;
      invalid(setting, value, fallback);
      return fallback;
    };
    const L = SETTINGS_LIMITS;
    const d = DEFAULT_SETTINGS;
    const storedZone = row ? row.timezone : merged.timezone;
    let timezone = canonicalTimeZone(storedZone);
    if (timezone === null) {
      invalid('timezone', storedZone, d.timezone);
      timezone = d.timezone;
    }
    out.set(team, {
      ...merged,
      timezone,
      qualityThreshold: row
        ? column('quality_threshold', row.quality_threshold, d.qualityThreshold, within(L.qualityThreshold))
        : merged.qualityThreshold,
      lateAfterMs: column(
        'late_after_minutes',
        merged.lateAfterMs,
        d.lateAfterMs,
        (n) => Number.isInteger(n) && n >= 0 && n <= L.lateAfterMinutes.max * 60_000,
      ),
      zscore: {
        ...merged.zscore,
        ...(row && {
          threshold: column(
            'zscore_threshold',
            row.zscore_threshold,
            d.zscore.threshold,
            within(L.zscoreThreshold),
          ),
          baselineDays: column(
            'baseline_days',
            row.baseline_days,
            d.zscore.baselineDays,
            within(L.baselineDays, true),
          ),
          minHistoryDays: column(
            'min_history_days',
            row.min_history_days,
            d.zscore.minHistoryDays,
            within(L.minHistoryDays, true),
          ),
          ...(row.min_excess_nanos !== null && {
            minExcessNanos: column(
              'min_excess_nanos',
              row.min_excess_nanos,
              d.zscore.minExcessNanos,
              (n) => Number.isInteger(n) && n >= L.minExcess.min * 1e9 && n <= L.minExcess.max * 1e9,
            ),
          }),
        }),
      },
      budgets: budgets.filter((b) => b.team === team).flatMap((b) => budgetOf(b, invalid)),
      guard: {
        rules: storedGuardRules(
          (row?.detector_rules as Record<string, unknown> | null | undefined)?.guard,
          team,
          logger,
        ),
      },
    });
  }
  return out;
}

/** The merged settings with each stored rule parameter the api could not have written (out of range) at its default. */
function checkedRules(
  merged: DetectorSettings,
  stored: unknown,
  invalid: (setting: string, value: unknown, using: unknown) => void,
): DetectorSettings {
  if (typeof stored !== 'object' || stored === null) return merged;
  const out = { ...merged } as unknown as Record<RuleSettingsKey, Record<string, unknown>>;
  const defaults = DEFAULT_SETTINGS as unknown as Record<RuleSettingsKey, Record<string, number | boolean>>;
  for (const [name, rule] of Object.entries(TEAM_RULES)) {
    const values: unknown = (stored as Record<string, unknown>)[rule.settings];
    if (typeof values !== 'object' || values === null) continue;
    for (const [key, p] of Object.entries(rule.params)) {
      if (!Object.hasOwn(values, p.field)) continue;
      const v: unknown = (values as Record<string, unknown>)[p.field];
      if (validStoredParam(p, v)) continue;
      const fallback = defaults[rule.settings][p.field];
      invalid(`rules.${name}.${key}`, typeof v === 'object' ? JSON.stringify(v) : v, fallback);
      out[rule.settings] = { ...out[rule.settings], [p.field]: fallback };
    }
  }
  return out as unknown as DetectorSettings;
}

const SCOPES: readonly string[] = ['team', 'agent', 'customer'] satisfies Budget['scope'][];
const PERIODS: readonly string[] = ['day', 'month'] satisfies Budget['period'][];

function budgetOf(
  b: BudgetRow,
  invalid: (setting: string, value: unknown, using: unknown) => void,
): Budget[] {
  const amountNanos = Number(b.amount_nanos);
  if (
    !SCOPES.includes(b.scope) ||
    !PERIODS.includes(b.period) ||
    !Number.isSafeInteger(amountNanos) ||
    amountNanos <= 0 ||
    !/^[A-Z]{3}$/.test(b.currency)
  ) {
    invalid('budget', JSON.stringify(b), 'no budget');
    return [];
  }
  return [
    {
      scope: b.scope as Budget['scope'],
      subject: b.subject,
      period: b.period as Budget['period'],
      amountNanos,
      currency: b.currency,
      ...(b.block_at_100 === true && { blockAt100: true }),
    },
  ];
}

/** Settings for tests and for teams the database does not know: the defaults. */
export class StaticTeamSettingsRepository implements TeamSettingsRepository {
  constructor(
    private readonly settings = new Map<string, DetectorSettings>(),
    /** Agents' settings in force, by agentKey. */
    private readonly agents = new Map<string, DetectorSettings>(),
  ) {}
  async fingerprint(): Promise<string> {
    return `${this.settings.size}:${this.agents.size}`;
  }
  async loadAll(): Promise<Map<string, DetectorSettings>> {
    return this.settings;
  }
  async loadAgents(): Promise<Map<string, DetectorSettings>> {
    return this.agents;
  }
}

/**
 * The settings in force. `refresh` reads the settings version (one row) and reloads when it moved: the services call
 * it on a timer and before each batch, so a batch read after a settings change committed is judged by it. Calls made
 * while a refresh is under way wait for one that starts after them (the one under way may have read the version
 * before the change). `changedSince` tells which teams' settings (their own or an agent's) changed after a generation.
 */
export class TeamSettingsCache {
  private settings = new Map<string, DetectorSettings>();
  private agents = new Map<string, DetectorSettings>();
  private fingerprintValue: string | null = null;
  private running: Promise<boolean> | null = null;
  private queued: Promise<boolean> | null = null;
  /** Bumped by every reload that changed something. */
  generation = 0;
  /** The generation each team's settings last changed in. */
  private readonly changedIn = new Map<string, number>();

  constructor(private readonly repo: TeamSettingsRepository) {}

  /** The agent's settings when it has overrides, else its team's. */
  readonly lookup = (team: string, agentId?: string): DetectorSettings =>
    (agentId === undefined ? undefined : this.agents.get(agentKey(team, agentId))) ??
    this.settings.get(team) ??
    DEFAULT_SETTINGS;

  /** Returns true when something changed. */
  refresh(): Promise<boolean> {
    if (!this.running) {
      this.running = this.load().finally(() => (this.running = null));
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => false)
      .then(() => {
        this.queued = null;
        return this.refresh();
      });
    return this.queued;
  }

  /** The teams whose settings changed in a generation after `generation`. */
  changedSince(generation: number): string[] {
    if (generation >= this.generation) return [];
    return [...this.changedIn].filter(([, g]) => g > generation).map(([team]) => team);
  }

  private async load(): Promise<boolean> {
    const f = await this.repo.fingerprint();
    if (f === this.fingerprintValue) return false;
    const settings = await this.repo.loadAll();
    const agents = await this.repo.loadAgents(settings);
    const first = this.fingerprintValue === null;
    const generation = this.generation + 1;
    if (!first) {
      const before = teamViews(this.settings, this.agents);
      const after = teamViews(settings, agents);
      for (const team of new Set([...before.keys(), ...after.keys()]))
        if (before.get(team) !== after.get(team)) this.changedIn.set(team, generation);
    }
    this.settings = settings;
    this.agents = agents;
    this.fingerprintValue = f;
    this.generation = generation;
    return true;
  }
}

/** Each team's settings and its agents' overrides as one string, to tell which teams a reload changed. */
function teamViews(
  teams: ReadonlyMap<string, DetectorSettings>,
  agents: ReadonlyMap<string, DetectorSettings>,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [team, s] of teams) out.set(team, JSON.stringify(s));
  for (const [key, s] of [...agents].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const team = key.slice(0, key.indexOf('/'));
    out.set(team, `${out.get(team) ?? ''}|${key}:${JSON.stringify(s)}`);
  }
  return out;
}
