import { agentKey } from '@libs/contracts';
import { DEFAULT_SETTINGS, SETTINGS_LIMITS, type DetectorSettings } from './settings';
import { TEAM_RULES, type RuleSettingsKey, type RulesUpdate } from './rules';
import {
  isPlainObject,
  stdoutLogger,
  storedNumber,
  validStoredParam,
  within,
  type SettingsLogger,
} from './stored-values';

/** An agent_settings row as PostgreSQL returns it; typed loosely because it is stored data, checked on reading. */
export interface AgentSettingsRow {
  team: string;
  agent_id: string;
  zscore_threshold: unknown;
  baseline_days: unknown;
  min_history_days: unknown;
  detector_rules: unknown;
}

/** What an agent sets instead of its team's settings, every value checked; whatever is absent is the team's. */
export interface AgentOverrides {
  zscoreThreshold?: number;
  baselineDays?: number;
  minHistoryDays?: number;
  /** Per rule, keyed as in DetectorSettings, the parameters set (settings units). */
  rules: Partial<Record<RuleSettingsKey, Record<string, number | boolean>>>;
}

/**
 * What the api writes for one agent: only the values given change; a value overrides the team's, null removes the
 * override (the team's value applies again). `rules` (settings units, see rulesUpdateOf) is merged into the stored
 * rules as a team's is; all of them go to the detector_rules JSON, min_excess included.
 */
export interface AgentSettingsUpdate {
  zscoreThreshold?: number | null;
  baselineDays?: number | null;
  minHistoryDays?: number | null;
  rules?: RulesUpdate;
}

/**
 * The overrides an agent's row holds. Only the rule parameters the api takes are read (TEAM_RULES): time zone,
 * quality threshold and budgets are the team's whatever the JSON says. A value of the wrong type or out of range is
 * left out, and logged: the team's value applies, and a reader never throws on what it reads.
 */
export function agentOverridesOf(
  row: AgentSettingsRow,
  logger: SettingsLogger = stdoutLogger,
): AgentOverrides {
  const invalid = (setting: string, value: unknown): void =>
    logger.warn('stored agent setting is invalid; using the team’s', {
      team: row.team,
      agent_id: row.agent_id,
      setting,
      value: String(value).slice(0, 100),
    });
  const column = (setting: string, value: unknown, valid: (n: number) => boolean): number | undefined => {
    if (value === null || value === undefined) return undefined;
    const n = storedNumber(value);
    if (Number.isFinite(n) && valid(n)) return n;
    invalid(setting, value);
    return undefined;
  };
  const L = SETTINGS_LIMITS;
  const out: AgentOverrides = {
    zscoreThreshold: column('zscore_threshold', row.zscore_threshold, within(L.zscoreThreshold)),
    baselineDays: column('baseline_days', row.baseline_days, within(L.baselineDays, true)),
    minHistoryDays: column('min_history_days', row.min_history_days, within(L.minHistoryDays, true)),
    rules: {},
  };
  for (const key of ['zscoreThreshold', 'baselineDays', 'minHistoryDays'] as const)
    if (out[key] === undefined) delete out[key];

  const stored = row.detector_rules;
  if (!isPlainObject(stored)) {
    if (stored !== null && stored !== undefined) invalid('rules', JSON.stringify(stored));
    return out;
  }
  for (const [name, rule] of Object.entries(TEAM_RULES)) {
    if (!Object.hasOwn(stored, rule.settings)) continue;
    const values = stored[rule.settings];
    if (!isPlainObject(values)) {
      invalid(`rules.${name}`, JSON.stringify(values));
      continue;
    }
    for (const [key, p] of Object.entries(rule.params)) {
      if (!Object.hasOwn(values, p.field)) continue;
      const v = values[p.field];
      if (validStoredParam(p, v)) (out.rules[rule.settings] ??= {})[p.field] = v as number | boolean;
      else invalid(`rules.${name}.${key}`, typeof v === 'object' ? JSON.stringify(v) : v);
    }
  }
  return out;
}

/**
 * An agent's settings in force: its team's, with the agent's stored overrides laid over them one level deep per rule
 * (a parameter set replaces the team's; every other stays the team's). A min_history_days above baseline_days (the
 * team changed one after the agent set the other) is lowered to baseline_days, and logged, so the rule can still fire.
 */
export function withAgentOverrides(
  team: DetectorSettings,
  row: AgentSettingsRow,
  logger: SettingsLogger = stdoutLogger,
): DetectorSettings {
  const o = agentOverridesOf(row, logger);
  const out = { ...team } as unknown as Record<string, Record<string, unknown>>;
  for (const [key, values] of Object.entries(o.rules)) out[key] = { ...out[key], ...values };
  const zscore = {
    ...(out.zscore as DetectorSettings['zscore']),
    ...(o.zscoreThreshold !== undefined && { threshold: o.zscoreThreshold }),
    ...(o.baselineDays !== undefined && { baselineDays: o.baselineDays }),
    ...(o.minHistoryDays !== undefined && { minHistoryDays: o.minHistoryDays }),
  };
  if (zscore.minHistoryDays > zscore.baselineDays) {
    logger.warn('agent min_history_days exceeds its baseline_days; using baseline_days', {
      team: row.team,
      agent_id: row.agent_id,
      setting: 'min_history_days',
      value: zscore.minHistoryDays,
      using: zscore.baselineDays,
    });
    zscore.minHistoryDays = zscore.baselineDays;
  }
  out.zscore = zscore;
  return out as unknown as DetectorSettings;
}

/**
 * Every agent's settings in force, by agentKey: each row laid over its team's settings in `teams` (the defaults for a
 * team without settings of its own).
 */
export function agentSettingsFromRows(
  rows: AgentSettingsRow[],
  teams: ReadonlyMap<string, DetectorSettings>,
  logger: SettingsLogger = stdoutLogger,
): Map<string, DetectorSettings> {
  return new Map(
    rows.map((r) => [
      agentKey(r.team, r.agent_id),
      withAgentOverrides(teams.get(r.team) ?? DEFAULT_SETTINGS, r, logger),
    ]),
  );
}
