import { DEFAULT_SETTINGS, type Budget, type DetectorSettings } from '@libs/team-settings';
import { pricedRun, runEvent } from '../../../../test/support/fixtures';
import { detectBatch, detectTeamBatch } from '../detect-batch';
import { Chain } from '../testing/chain';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 2, 3, 9);
const DOLLAR = 1e9;

/**
 * A settings change judged at once (#19 item 5), through the same classes the services run: the aggregator's
 * `reevaluate` of the changed team's windows, then the detector's rules with the new settings. No run comes after the
 * change: a budget set below what was already spent today pages on the re-evaluation alone.
 */
describe('a settings change re-evaluates the team’s current windows', () => {
  let settings: DetectorSettings = DEFAULT_SETTINGS;
  let chain: Chain;
  let seq = 0;
  const run = (
    agent: string,
    at: number,
    cost: number,
    team = 'payments',
    customer: string | null = 'acme',
  ) =>
    pricedRun(
      runEvent({ run_id: `r${seq++}`, team, agent_id: agent, finished_at: at, customer_id: customer }),
      cost,
    );
  const budgets = (...b: Budget[]) => {
    settings = { ...DEFAULT_SETTINGS, budgets: b };
  };
  const again = (teams: string[]) => {
    const out = chain.aggregator.reevaluate(new Set(teams), (team) =>
      chain
        .settingsOf(team)
        .budgets.filter((b) => b.scope === 'customer')
        .map((b) => b.subject),
    );
    return [
      ...detectBatch(
        chain.detector,
        out.stats.map((s) => s.value),
      ).anomalies,
      ...detectTeamBatch(chain.teams, out.teamSpend).anomalies,
    ].map((a) => a.value);
  };

  beforeEach(() => {
    settings = DEFAULT_SETTINGS;
    chain = new Chain((team) => (team === 'payments' ? settings : DEFAULT_SETTINGS));
    const spent = chain.process(
      [
        run('checkout', T0, 3 * DOLLAR),
        run('checkout', T0 + HOUR, 2 * DOLLAR),
        run('refunds', T0 + 2 * HOUR, 1 * DOLLAR),
        run('other-agent', T0 + 2 * HOUR, 9 * DOLLAR, 'other-team'),
      ],
      50,
    );
    expect(spent.anomalies).toEqual([]);
  });

  it('pages an agent budget set below the agent’s spend today, with no new run', () => {
    budgets({ scope: 'agent', subject: 'checkout', period: 'day', amountNanos: 4 * DOLLAR, currency: 'USD' });
    const pages = again(['payments']);
    expect(pages).toEqual([
      expect.objectContaining({ rule: 'budget', agent_id: 'checkout', state: 'firing', observed: 5 }),
    ]);
    // judged as of the agent's latest run; the next look changes nothing (it already pages)
    expect(pages[0].detected_at).toBe(T0 + HOUR);
    expect(again(['payments'])).toEqual([]);
  });

  it('pages a team budget and a customer budget the day has passed, once each', () => {
    budgets(
      { scope: 'team', subject: '', period: 'day', amountNanos: 5 * DOLLAR, currency: 'USD' },
      { scope: 'customer', subject: 'acme', period: 'day', amountNanos: 2 * DOLLAR, currency: 'USD' },
    );
    const pages = again(['payments']);
    expect(pages.map((a) => [a.rule, a.agent_id, a.state, a.details.scope])).toEqual(
      expect.arrayContaining([
        ['budget', null, 'firing', 'team'],
        ['budget', null, 'firing', 'customer'],
      ]),
    );
    expect(pages).toHaveLength(2);
    expect(pages.every((a) => a.trigger_run_id === null)).toBe(true);
  });

  it('leaves the teams whose settings did not change alone', () => {
    budgets({ scope: 'agent', subject: 'checkout', period: 'day', amountNanos: 4 * DOLLAR, currency: 'USD' });
    expect(again(['other-team'])).toEqual([]);
  });
});
