import { TeamDailySpend, TEAM_DAILY_DAYS } from './team-daily';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 2, 2);

describe(TeamDailySpend.name, () => {
  it('is unknown until a team has a complete day, then the mean of its complete days', () => {
    const sut = new TeamDailySpend();
    sut.add('a', T0 + 1000, 10);
    expect(sut.lookup('a')).toBeNull();
    expect(sut.lookup('b')).toBeNull();
    sut.add('a', T0 + DAY + 1000, 30);
    expect(sut.lookup('a')).toBe(10);
    sut.add('a', T0 + 2 * DAY + 1000, 5);
    expect(sut.lookup('a')).toBe(20);
  });

  it('covers the last 14 complete days, and sees a late run of a past day', () => {
    const sut = new TeamDailySpend();
    for (let d = 0; d < 30; d++) sut.add('a', T0 + d * DAY + 1000, d < 16 ? 1000 : 100);
    // days 16..29 complete? today is day 29: days 15..28 (one at 1,000, thirteen at 100)
    expect(TEAM_DAILY_DAYS).toBe(14);
    expect(sut.lookup('a')).toBeCloseTo((1000 + 13 * 100) / 14, 9);
    sut.add('a', T0 + 28 * DAY + 5000, 1400);
    expect(sut.lookup('a')).toBeCloseTo((1000 + 13 * 100 + 1400) / 14, 9);
  });
});
