import { DEFAULT_SETTINGS, SETTINGS_LIMITS, type DetectorSettings } from './settings';

/** The rules a team can tune or switch off (the budget rule is not one: budgets are explicit). */
export type RuleSettingsKey =
  | 'zscore'
  | 'costPerRun'
  | 'costPerRunDrift'
  | 'costPerSuccess'
  | 'session'
  | 'runRate'
  | 'childRuns'
  | 'unattributed'
  | 'unpriced'
  | 'promptCreep';

/**
 * One parameter as the api shows it: `field` is its key in the rule's settings; `money` values are currency units in
 * the api and nano-units in the settings; `limits` (of SETTINGS_LIMITS, in api units) bound what a team may set and
 * what a reader takes from the database.
 */
export interface RuleParam {
  field: string;
  kind: 'number' | 'integer' | 'money' | 'boolean';
  limits?: { readonly min: number; readonly max: number };
  description: string;
}

export interface TeamRule {
  settings: RuleSettingsKey;
  description: string;
  params: Record<string, RuleParam>;
}

const L = SETTINGS_LIMITS;
const enabled: RuleParam = {
  field: 'enabled',
  kind: 'boolean',
  description: 'false: the rule is not evaluated for the team (default true)',
};

/**
 * Every tunable rule by its name (the `rule` of its anomalies), with the parameters the settings api takes. The
 * z-score threshold, baseline days and minimum history stay top-level fields of the settings (their own columns).
 */
export const TEAM_RULES: Readonly<Record<string, TeamRule>> = {
  spend_zscore: {
    settings: 'zscore',
    description:
      'A day’s spend far above the agent’s baseline (threshold, baseline and history: top-level fields)',
    params: {
      min_excess: {
        field: 'minExcessNanos',
        kind: 'money',
        limits: L.minExcess,
        description:
          'Absolute floor: the excess over the baseline mean must be at least this, in currency units (default 1); ' +
          'it also floors cost_per_run_jump and cost_per_success_climb',
      },
      min_excess_team_share: {
        field: 'minExcessTeamShare',
        kind: 'number',
        limits: L.minExcessTeamShare,
        description:
          'The floor is at most this share of the team’s mean daily spend over its 14 complete days before today ' +
          '(default 0.02: a team spending $20 a day has its agents floored at $0.40); 0: min_excess alone',
      },
      seasonal: {
        field: 'seasonal',
        kind: 'boolean',
        description:
          'true (default): a day is judged against its expected spend knowing the weekday/weekend rhythm and steady ' +
          'growth of the baseline days; false: against their plain mean and deviation',
      },
      enabled,
    },
  },
  cost_per_run_jump: {
    settings: 'costPerRun',
    description: 'The recent cost per run jumps above the baseline',
    params: {
      ratio: {
        field: 'ratio',
        kind: 'number',
        limits: L.costPerRunRatio,
        description: 'Recent cost per run over the baseline’s that fires (default 3)',
      },
      enabled,
    },
  },
  cost_per_run_drift: {
    settings: 'costPerRunDrift',
    description: 'Cost per run creeping up over weeks',
    params: {
      ratio: {
        field: 'ratio',
        kind: 'number',
        limits: L.costPerRunDriftRatio,
        description: 'Cost per run over the reference weeks’ that fires (default 1.5)',
      },
      enabled,
    },
  },
  cost_per_success_climb: {
    settings: 'costPerSuccess',
    description: 'Cost per successful run climbing while cost per run stays flat',
    params: {
      ratio: {
        field: 'ratio',
        kind: 'number',
        limits: L.costPerSuccessRatio,
        description: 'Today’s cost per success over the baseline’s that fires (default 1.6)',
      },
      enabled,
    },
  },
  session_outlier: {
    settings: 'session',
    description: 'A session costing far more than the agent’s median session',
    params: {
      median_multiple: {
        field: 'medianMultiple',
        kind: 'number',
        limits: L.sessionMedianMultiple,
        description: 'Multiple of the median session cost that fires (default 5)',
      },
      min_cost: {
        field: 'minCostNanos',
        kind: 'money',
        limits: L.sessionMinCost,
        description: 'Absolute floor: a session below this never fires, in currency units (default 0.5)',
      },
      enabled,
    },
  },
  run_rate_loop: {
    settings: 'runRate',
    description: 'Runs per minute far above the agent’s norm (a loop)',
    params: {
      norm_multiple: {
        field: 'normMultiple',
        kind: 'number',
        limits: L.runRateNormMultiple,
        description: 'Multiple of the agent’s runs-per-minute norm that fires (default 10)',
      },
      min_runs_per_minute: {
        field: 'minRunsPerMinute',
        kind: 'integer',
        limits: L.runRateMinRunsPerMinute,
        description: 'Absolute floor: fewer runs in a minute never fire (default 30)',
      },
      enabled,
    },
  },
  child_run_loop: {
    settings: 'childRuns',
    description: 'A parent run spawning far more child runs than the agent’s norm',
    params: {
      norm_multiple: {
        field: 'normMultiple',
        kind: 'number',
        limits: L.childRunsNormMultiple,
        description: 'Multiple of the agent’s children-per-parent norm that fires (default 10)',
      },
      min_children: {
        field: 'minChildren',
        kind: 'integer',
        limits: L.childRunsMinChildren,
        description: 'Absolute floor: fewer children of one parent never fire (default 25)',
      },
      enabled,
    },
  },
  unattributed_spend: {
    settings: 'unattributed',
    description: 'Much of a day’s spend without a customer or feature',
    params: {
      share: {
        field: 'share',
        kind: 'number',
        limits: L.unattributedShare,
        description: 'Share of the day’s spend unattributed that fires (default 0.5)',
      },
      min_amount: {
        field: 'minAmountNanos',
        kind: 'money',
        limits: L.unattributedMinAmount,
        description: 'Absolute floor: less unattributed spend never fires, in currency units (default 5)',
      },
      enabled,
    },
  },
  unpriced_model: {
    settings: 'unpriced',
    description: 'Runs of a model the rate card cannot price',
    params: { enabled },
  },
  prompt_creep: {
    settings: 'promptCreep',
    description: 'Input tokens per run creeping up against the agent’s level weeks before',
    params: {
      ratio: {
        field: 'ratio',
        kind: 'number',
        limits: L.promptCreepRatio,
        description: 'Input tokens per run over the reference level that fires (default 1.35)',
      },
      min_runs: {
        field: 'minRuns',
        kind: 'integer',
        limits: L.promptCreepMinRuns,
        description: 'Runs a day needs before it is judged (default 50)',
      },
      enabled,
    },
  },
};

/** The rules part of a settings body: per rule, per parameter, a value in api units or null (back to the default). */
export type RulesBody = Record<string, Record<string, number | boolean | null | undefined> | undefined>;

/** The same in settings units, keyed as DetectorSettings: what TeamSettingsUpdate.rules carries. */
export type RulesUpdate = Partial<Record<RuleSettingsKey, Record<string, number | boolean | null>>>;

const NANOS = 1e9;

/** A value in api units as the settings hold it, and back. */
export const toSettingsUnits = (p: RuleParam, v: number | boolean): number | boolean =>
  p.kind === 'money' ? Math.round((v as number) * NANOS) : v;
export const toApiUnits = (p: RuleParam, v: number | boolean): number | boolean =>
  p.kind === 'money' ? (v as number) / NANOS : v;

/** Whether a value in api units is one a team may set for the parameter. */
export function validParam(p: RuleParam, v: unknown): boolean {
  if (p.kind === 'boolean') return typeof v === 'boolean';
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (p.kind === 'integer' && !Number.isInteger(v)) return false;
  return !p.limits || (v >= p.limits.min && v <= p.limits.max);
}

/** The rules of a (validated) settings body in settings units; undefined when it gives none. */
export function rulesUpdateOf(body: RulesBody | undefined): RulesUpdate | undefined {
  if (!body) return undefined;
  const out: RulesUpdate = {};
  for (const [name, values] of Object.entries(body)) {
    const rule = TEAM_RULES[name];
    if (!rule || !values) continue;
    const target = (out[rule.settings] ??= {});
    for (const [key, v] of Object.entries(values)) {
      const p = rule.params[key];
      if (!p || v === undefined) continue;
      target[p.field] = v === null ? null : toSettingsUnits(p, v);
    }
  }
  return out;
}

/** `settings` with an update laid over it: a value replaces, null restores the default. */
export function applyRules(settings: DetectorSettings, update: RulesUpdate | undefined): DetectorSettings {
  if (!update) return settings;
  const out = { ...settings } as unknown as Record<string, Record<string, unknown>>;
  const defaults = DEFAULT_SETTINGS as unknown as Record<string, Record<string, unknown>>;
  for (const [key, values] of Object.entries(update)) {
    const merged = { ...out[key] };
    for (const [field, v] of Object.entries(values ?? {})) merged[field] = v ?? defaults[key][field];
    out[key] = merged;
  }
  return out as unknown as DetectorSettings;
}

/** Every tunable rule's parameters in force, in api units: what GET /v1/teams/:team/settings shows. */
export function rulesView(settings: DetectorSettings): Record<string, Record<string, number | boolean>> {
  const s = settings as unknown as Record<string, Record<string, number | boolean>>;
  return Object.fromEntries(
    Object.entries(TEAM_RULES).map(([name, rule]) => [
      name,
      Object.fromEntries(
        Object.entries(rule.params).map(([key, p]) => [key, toApiUnits(p, s[rule.settings][p.field])]),
      ),
    ]),
  );
}
