import type { GuardRule } from './guard';

/** A budget from the `budgets` table: amount in nano-units of `currency` per day or month (in the team's time zone). */
export interface Budget {
  scope: 'team' | 'agent' | 'customer';
  /** agent_id or customer_id; '' for the team scope. */
  subject: string;
  period: 'day' | 'month';
  amountNanos: number;
  currency: string;
  /** At 100% the budget blocks its scope (an AgentControl from the detector) until its period ends. Default false. */
  blockAt100?: boolean;
}

/** Every rule parameter a team can set. Stored in team_settings (columns and the detector_rules JSON). */
export interface DetectorSettings {
  timezone: string;
  /** A run is successful when status=success and its quality score (if any) is at least this. */
  qualityThreshold: number;
  /**
   * The late-data grace: a run that finished more than this before its partition's stream time (the latest finished_at
   * the aggregator has seen there) is late: counted in its day and baseline, never paged. At most the aggregator's
   * GRACE_MS (3 h), which bounds the hours it keeps open.
   */
  lateAfterMs: number;
  /** `enabled` in each rule below: false and the detector does not evaluate that rule for the team. */
  zscore: {
    threshold: number;
    baselineDays: number;
    minHistoryDays: number;
    minExcessNanos: number;
    /**
     * The floor is at most this share of the team's mean daily spend (its 14 complete days before today), so an agent
     * of a team that spends little is not held to a floor sized for a big one; 0: minExcessNanos alone.
     */
    minExcessTeamShare: number;
    /** Judge against the expectation that knows the week and the trend (true) or the plain mean and deviation. */
    seasonal: boolean;
    enabled: boolean;
  };
  costPerRun: {
    ratio: number;
    minRecentRuns: number;
    recentRuns: number;
    minHistoryDays: number;
    enabled: boolean;
  };
  costPerRunDrift: {
    ratio: number;
    referenceDays: number;
    minHistoryDays: number;
    minRuns: number;
    enabled: boolean;
  };
  /** Input tokens per run of yesterday and today against the agent's level 2-4 weeks before (the aggregator's median). */
  promptCreep: { ratio: number; minRuns: number; minHistoryDays: number; enabled: boolean };
  costPerSuccess: {
    ratio: number;
    flatCostPerRunRatio: number;
    minRunsToday: number;
    minHistoryDays: number;
    enabled: boolean;
  };
  session: {
    medianMultiple: number;
    minSessions: number;
    minCostNanos: number;
    idleCloseMs: number;
    enabled: boolean;
  };
  runRate: { normMultiple: number; minRunsPerMinute: number; capPerMinute: number; enabled: boolean };
  childRuns: { normMultiple: number; minChildren: number; capPerParent: number; enabled: boolean };
  unattributed: { share: number; minAmountNanos: number; historyMultiple: number; enabled: boolean };
  unpriced: { enabled: boolean };
  budgets: Budget[];
  /** The team's guard rules (see guard.ts); per-agent overrides carry none. Kept in the detector_rules JSON. */
  guard: { rules: GuardRule[] };
}

const DOLLAR = 1_000_000_000;

export const DEFAULT_SETTINGS: DetectorSettings = {
  timezone: 'UTC',
  qualityThreshold: 0,
  lateAfterMs: 3 * 3_600_000,
  zscore: {
    threshold: 2.5,
    baselineDays: 14,
    minHistoryDays: 7,
    minExcessNanos: 1 * DOLLAR,
    minExcessTeamShare: 0.02,
    seasonal: true,
    enabled: true,
  },
  costPerRun: { ratio: 3, minRecentRuns: 5, recentRuns: 20, minHistoryDays: 3, enabled: true },
  costPerRunDrift: { ratio: 1.5, referenceDays: 7, minHistoryDays: 21, minRuns: 100, enabled: true },
  promptCreep: { ratio: 1.35, minRuns: 50, minHistoryDays: 28, enabled: true },
  costPerSuccess: {
    ratio: 1.6,
    flatCostPerRunRatio: 1.25,
    minRunsToday: 30,
    minHistoryDays: 7,
    enabled: true,
  },
  session: {
    medianMultiple: 5,
    minSessions: 20,
    minCostNanos: DOLLAR / 2,
    idleCloseMs: 30 * 60_000,
    enabled: true,
  },
  runRate: { normMultiple: 10, minRunsPerMinute: 30, capPerMinute: 600, enabled: true },
  childRuns: { normMultiple: 10, minChildren: 25, capPerParent: 200, enabled: true },
  unattributed: { share: 0.5, minAmountNanos: 5 * DOLLAR, historyMultiple: 3, enabled: true },
  unpriced: { enabled: true },
  budgets: [],
  guard: { rules: [] },
};

/**
 * The values a team may set, and the only ones the readers take from the database (anything else falls back to the
 * default). baseline_days stops at the aggregator's default MAX_BASELINE_DAYS: it keeps no longer a history.
 */
export const SETTINGS_LIMITS = {
  zscoreThreshold: { min: 0.5, max: 10 },
  baselineDays: { min: 3, max: 14 },
  minHistoryDays: { min: 1, max: 14 },
  qualityThreshold: { min: 0, max: 1 },
  /** The late-data grace, in minutes (stored in ms); the aggregator applies at most its GRACE_MS. */
  lateAfterMinutes: { min: 0, max: 24 * 60 },
  timezoneLength: 64,
  /** Money floors, in currency units (stored in nano-units). */
  minExcess: { min: 0, max: 10_000 },
  minExcessTeamShare: { min: 0, max: 1 },
  costPerRunRatio: { min: 1.1, max: 100 },
  costPerRunDriftRatio: { min: 1.05, max: 100 },
  costPerSuccessRatio: { min: 1.1, max: 100 },
  sessionMedianMultiple: { min: 1.5, max: 1_000 },
  sessionMinCost: { min: 0, max: 10_000 },
  runRateNormMultiple: { min: 1.5, max: 1_000 },
  /** At most the aggregator's count cap per minute (runRate.capPerMinute, 600). */
  runRateMinRunsPerMinute: { min: 1, max: 600 },
  childRunsNormMultiple: { min: 1.5, max: 1_000 },
  /** At most the aggregator's count cap per parent (childRuns.capPerParent, 200). */
  childRunsMinChildren: { min: 1, max: 200 },
  unattributedShare: { min: 0.01, max: 1 },
  unattributedMinAmount: { min: 0, max: 100_000 },
  promptCreepRatio: { min: 1.05, max: 100 },
  promptCreepMinRuns: { min: 1, max: 100_000 },
} as const;

/**
 * The z-score rule's money floor in force (nano-units): min_excess, or less when the team's mean daily spend makes
 * min_excess_team_share of it smaller. Also the floor of cost_per_run_jump and cost_per_success_climb.
 */
export function excessFloor(z: DetectorSettings['zscore'], teamDailyNanos: number | null): number {
  if (!(z.minExcessTeamShare > 0) || teamDailyNanos === null || !(teamDailyNanos > 0))
    return z.minExcessNanos;
  return Math.min(z.minExcessNanos, Math.round(z.minExcessTeamShare * teamDailyNanos));
}

/** An IANA name ("Europe/London", "Etc/GMT+5", "UTC"); not an offset such as "+01:00", which newer Intl also takes. */
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/** The canonical IANA name of a time zone Intl knows ("europe/london" is "Europe/London"), or null. */
export function canonicalTimeZone(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > SETTINGS_LIMITS.timezoneLength || !ZONE_NAME.test(value))
    return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

export function isTimeZone(value: unknown): value is string {
  return canonicalTimeZone(value) !== null;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object[] ? T[K] : DeepPartial<T[K]> };
export type SettingsOverrides = DeepPartial<DetectorSettings>;

/**
 * Defaults overlaid with a team's overrides, one level deep per rule. Unknown keys, values of another type than the
 * default's and non-finite numbers are ignored: the JSON is stored data, never trusted to have the right shape.
 */
export function mergeSettings(overrides: SettingsOverrides | undefined | null): DetectorSettings {
  if (!overrides || typeof overrides !== 'object' || Array.isArray(overrides)) return DEFAULT_SETTINGS;
  const out: Record<string, unknown> = { ...DEFAULT_SETTINGS };
  for (const [key, base] of Object.entries(DEFAULT_SETTINGS)) {
    const over: unknown = Object.hasOwn(overrides, key)
      ? (overrides as Record<string, unknown>)[key]
      : undefined;
    if (over === undefined || over === null) continue;
    if (Array.isArray(base)) {
      if (Array.isArray(over)) out[key] = over;
    } else if (typeof base !== 'object') {
      if (sameKind(base, over)) out[key] = over;
    } else if (typeof over === 'object' && !Array.isArray(over)) {
      const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) };
      for (const [k, v] of Object.entries(over as Record<string, unknown>))
        if (Object.hasOwn(merged, k) && sameKind(merged[k], v)) merged[k] = v;
      out[key] = merged;
    }
  }
  return out as unknown as DetectorSettings;
}

function sameKind(base: unknown, value: unknown): boolean {
  return typeof value === typeof base && (typeof value !== 'number' || Number.isFinite(value));
}
