const DAY = 86_400_000;
/** Complete days the mean covers. */
export const TEAM_DAILY_DAYS = 14;

/** A team's mean daily spend (nano-units of its currency), or null when nothing is known yet. */
export type TeamDailyLookup = (team: string) => number | null;

/**
 * Each team's mean daily spend over its last TEAM_DAILY_DAYS complete days (UTC days; fewer while it has fewer), from
 * the runs as they come: what an in-process chain (a backtest, the quality suite) floors its cheap agents with. The
 * detector service reads the same figure from agent_stats (DetectorService.refreshTeamDaily).
 */
export class TeamDailySpend {
  /** team -> day start -> spend; days older than the window are dropped as time moves on. */
  private readonly days = new Map<string, Map<number, number>>();
  private clock = -Infinity;
  /** Each team's mean as of the day it was worked out for (most lookups are of the same day). */
  private readonly means = new Map<string, { today: number; mean: number | null }>();

  add(team: string, finishedAt: number, nanos: number): void {
    const day = Math.floor(finishedAt / DAY) * DAY;
    this.clock = Math.max(this.clock, finishedAt);
    let t = this.days.get(team);
    if (!t) this.days.set(team, (t = new Map()));
    t.set(day, (t.get(day) ?? 0) + nanos);
    if (day < Math.floor(this.clock / DAY) * DAY) this.means.delete(team);
    if (t.size > TEAM_DAILY_DAYS + 2) {
      const oldest = Math.floor(this.clock / DAY) * DAY - (TEAM_DAILY_DAYS + 1) * DAY;
      for (const d of t.keys()) if (d < oldest) t.delete(d);
    }
  }

  readonly lookup: TeamDailyLookup = (team) => {
    const t = this.days.get(team);
    if (!t) return null;
    const today = Math.floor(this.clock / DAY) * DAY;
    const kept = this.means.get(team);
    if (kept?.today === today) return kept.mean;
    const mean = this.meanOf(t, today);
    this.means.set(team, { today, mean });
    return mean;
  };

  private meanOf(t: Map<number, number>, today: number): number | null {
    const first = Math.min(...t.keys());
    const from = Math.max(first, today - TEAM_DAILY_DAYS * DAY);
    const complete = Math.round((today - from) / DAY);
    if (complete < 1) return null;
    let sum = 0;
    for (const [d, v] of t) if (d >= from && d < today) sum += v;
    return sum / complete;
  }
}
