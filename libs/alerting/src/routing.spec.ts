import { globMatch, maskDestination, routesFor } from './routing';
import { signWebhook } from './messages';
import type { Anomaly, Route } from './types';

const anomaly = (over: Partial<Anomaly>): Anomaly =>
  ({
    team: 'support',
    agent_id: 'research-agent',
    rule: 'spend_zscore',
    severity: 'critical',
    ...over,
  }) as Anomaly;

describe(routesFor.name, () => {
  const routes: Route[] = [
    {
      id: 'pager',
      team: 'support',
      match: { agent_id: 'research-*', severity: ['critical', 'error'] },
      destinations: [],
    },
    { id: 'default', team: 'support', match: {}, destinations: [] },
    { id: 'all', team: null, match: {}, destinations: [] },
  ];
  it('picks the team routes that match, else the team default, else the catch-all', () => {
    expect(routesFor(anomaly({}), routes).map((r) => r.id)).toEqual(['pager']);
    expect(routesFor(anomaly({ severity: 'warning' }), routes).map((r) => r.id)).toEqual(['default']);
    expect(routesFor(anomaly({ team: 'growth' }), routes).map((r) => r.id)).toEqual(['all']);
  });
});

describe(globMatch.name, () => {
  it.each([
    ['research-*', 'research-agent', true],
    ['research-*', 'research-', true],
    ['research-*', 'search-agent', false],
    ['*-agent', 'research-agent', true],
    ['r*a*t', 'research-agent', true],
    ['r*z*t', 'research-agent', false],
    ['*', '', true],
    ['', '', true],
    ['', 'x', false],
    ['a.b', 'axb', false],
    ['a+(b)', 'a+(b)', true],
    ['**a**', 'bab', true],
  ])('%s against %s: %s', (pattern, value, expected) => {
    expect(globMatch(pattern, value)).toBe(expected);
  });

  it('answers a pattern with many stars that does not match at once (no backtracking blow-up)', () => {
    // A regular expression of this glob backtracks through ~80^8 ways before failing.
    const value = 'a'.repeat(80);
    expect(globMatch('*a*a*a*a*a*a*a*a*b', value)).toBe(false);
    expect(globMatch(`${'*a'.repeat(128)}b`, 'a'.repeat(256))).toBe(false);
    expect(globMatch('*a*a*a*a*a*a*a*a*', value)).toBe(true);
  });
});

describe(maskDestination.name, () => {
  it('never shows a secret', () => {
    const masked = JSON.stringify([
      maskDestination({ type: 'pagerduty', routing_key: 'R0UT1NGK3Y0123456789abcdefABCDEF' }),
      maskDestination({
        type: 'webhook',
        url: 'https://hooks.example/burnrate?token=abc',
        secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0',
      }),
      maskDestination({ type: 'slack', webhook_url: 'https://hooks.slack.com/services/T000/B000/XXXX' }),
    ]);
    expect(masked).not.toMatch(/R0UT1NGK3Y|c2VjcmV0c2Vj|token=abc|B000\/XXXX/);
  });
});

describe(signWebhook.name, () => {
  it('signs like the Standard Webhooks reference (id.timestamp.body, HMAC-SHA256, base64)', () => {
    // Reference vector from the Standard Webhooks specification's libraries.
    const sig = signWebhook(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(sig).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });
});
