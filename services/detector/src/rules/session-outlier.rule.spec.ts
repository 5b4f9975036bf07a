import { DEFAULT_SETTINGS } from '@libs/team-settings';
import { T0, USD } from '../testing/context';
import { SessionOutlierRule } from './session-outlier.rule';

describe(SessionOutlierRule.name, () => {
  const sut = new SessionOutlierRule();
  const p = DEFAULT_SETTINGS.session;
  const input = (costNanos: number, sampleSize = 50) => ({
    team: 'support',
    agentId: 'triage',
    currency: 'USD',
    sessionId: 'ses_1',
    sessionStart: T0,
    lastActivity: T0 + 60_000,
    costNanos,
    runs: 12,
    medianNanos: 0.2 * USD,
    sampleSize,
  });

  it('fires over 5× the median session; the window closes with the session', () => {
    const r = sut.evaluate(input(1.1 * USD), p);
    expect(r?.finding?.severity).toBe('warning');
    expect(r?.subject).toBe('ses_1');
    expect(r?.windowEnd).toBe(T0 + 60_000 + p.idleCloseMs);
    expect(sut.evaluate(input(0.9 * USD), p)?.finding).toBeNull();
  });

  it('needs enough closed sessions for a median', () => {
    expect(sut.evaluate(input(10 * USD, 5), p)).toBeNull();
  });
});
