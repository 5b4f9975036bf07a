import { DEFAULT_SETTINGS } from './settings';
import { settingsFromRows, StaticTeamSettingsRepository, TeamSettingsCache } from './repository';

describe(TeamSettingsCache.name, () => {
  it('serves defaults for unknown teams and the stored settings once refreshed', async () => {
    const stored = settingsFromRows(
      [
        {
          team: 'support',
          zscore_threshold: 3,
          baseline_days: 21,
          min_history_days: 5,
          timezone: 'Europe/London',
          quality_threshold: 0.7,
          min_excess_nanos: '2000000000',
          detector_rules: { runRate: { capPerMinute: 50 }, session: { medianMultiple: 'x' } } as never,
        },
      ],
      [
        {
          team: 'support',
          scope: 'agent',
          subject: 'research-agent',
          period: 'month',
          amount_nanos: '400000000000',
          currency: 'USD',
        },
      ],
    );
    const sut = new TeamSettingsCache(new StaticTeamSettingsRepository(stored));
    expect(sut.lookup('support')).toBe(DEFAULT_SETTINGS);
    expect(await sut.refresh()).toBe(true);
    const s = sut.lookup('support');
    expect(s.zscore).toEqual({ threshold: 3, baselineDays: 21, minHistoryDays: 5, minExcessNanos: 2e9 });
    expect(s.timezone).toBe('Europe/London');
    expect(s.runRate.capPerMinute).toBe(50);
    expect(s.session.medianMultiple).toBe(DEFAULT_SETTINGS.session.medianMultiple);
    expect(s.budgets).toEqual([
      { scope: 'agent', subject: 'research-agent', period: 'month', amountNanos: 400e9, currency: 'USD' },
    ]);
    expect(sut.lookup('other')).toBe(DEFAULT_SETTINGS);
    expect(await sut.refresh()).toBe(false);
  });
});
