import type { Pool } from 'pg';
import {
  DEFAULT_SETTINGS,
  mergeSettings,
  type Budget,
  type DetectorSettings,
  type SettingsOverrides,
} from './settings';

/** Where per-team detector settings come from; the PostgreSQL one reads the api service's tables. */
export interface TeamSettingsRepository {
  /** A cheap value that changes whenever any team's settings or budgets change. */
  fingerprint(): Promise<string>;
  loadAll(): Promise<Map<string, DetectorSettings>>;
}

interface SettingsRow {
  team: string;
  zscore_threshold: number;
  baseline_days: number;
  min_history_days: number;
  timezone: string;
  quality_threshold: number;
  min_excess_nanos: string | null;
  detector_rules: SettingsOverrides | null;
}

interface BudgetRow {
  team: string;
  scope: Budget['scope'];
  subject: string;
  period: Budget['period'];
  amount_nanos: string;
  currency: string;
}

/** Reads team_settings (+ its detector_rules JSON) and budgets; columns win over the JSON for the same parameter. */
export class PgTeamSettingsRepository implements TeamSettingsRepository {
  constructor(private readonly pool: Pool) {}

  async fingerprint(): Promise<string> {
    const { rows } = await this.pool.query<{ f: string }>(
      `select concat_ws('|',
         (select count(*) || ':' || coalesce(max(updated_at)::text, '') from team_settings),
         (select count(*) || ':' || coalesce(sum(hashtext(team || scope || subject || period || amount_nanos || currency)), 0) from budgets)
       ) as f`,
    );
    return rows[0].f;
  }

  async loadAll(): Promise<Map<string, DetectorSettings>> {
    const hasRules = await this.pool.query(
      `select 1 from information_schema.columns where table_name = 'team_settings' and column_name = 'detector_rules'`,
    );
    const { rows } = await this.pool.query<SettingsRow>(
      `select team, zscore_threshold, baseline_days, min_history_days, timezone, quality_threshold, min_excess_nanos,
              ${hasRules.rowCount ? 'detector_rules' : 'null::jsonb as detector_rules'} from team_settings`,
    );
    const { rows: budgets } = await this.pool.query<BudgetRow>(
      'select team, scope, subject, period, amount_nanos, currency from budgets order by id',
    );
    return settingsFromRows(rows, budgets);
  }
}

export function settingsFromRows(rows: SettingsRow[], budgets: BudgetRow[]): Map<string, DetectorSettings> {
  const out = new Map<string, DetectorSettings>();
  const teams = new Set([...rows.map((r) => r.team), ...budgets.map((b) => b.team)]);
  for (const team of teams) {
    const row = rows.find((r) => r.team === team);
    const json = row?.detector_rules ?? {};
    const merged = mergeSettings(json);
    out.set(team, {
      ...merged,
      timezone: row?.timezone ?? merged.timezone,
      qualityThreshold: row ? Number(row.quality_threshold) : merged.qualityThreshold,
      zscore: {
        ...merged.zscore,
        ...(row && {
          threshold: Number(row.zscore_threshold),
          baselineDays: Number(row.baseline_days),
          minHistoryDays: Number(row.min_history_days),
          ...(row.min_excess_nanos !== null && { minExcessNanos: Number(row.min_excess_nanos) }),
        }),
      },
      budgets: budgets
        .filter((b) => b.team === team)
        .map((b) => ({
          scope: b.scope,
          subject: b.subject,
          period: b.period,
          amountNanos: Number(b.amount_nanos),
          currency: b.currency,
        })),
    });
  }
  return out;
}

/** Settings for tests and for teams the database does not know: the defaults. */
export class StaticTeamSettingsRepository implements TeamSettingsRepository {
  constructor(private readonly settings = new Map<string, DetectorSettings>()) {}
  async fingerprint(): Promise<string> {
    return String(this.settings.size);
  }
  async loadAll(): Promise<Map<string, DetectorSettings>> {
    return this.settings;
  }
}

/** The settings in force, refreshed by polling: a change made through the api applies within one poll interval. */
export class TeamSettingsCache {
  private settings = new Map<string, DetectorSettings>();
  private fingerprintValue: string | null = null;

  constructor(private readonly repo: TeamSettingsRepository) {}

  readonly lookup = (team: string): DetectorSettings => this.settings.get(team) ?? DEFAULT_SETTINGS;

  /** Returns true when something changed. */
  async refresh(): Promise<boolean> {
    const f = await this.repo.fingerprint();
    if (f === this.fingerprintValue) return false;
    this.settings = await this.repo.loadAll();
    this.fingerprintValue = f;
    return true;
  }
}
