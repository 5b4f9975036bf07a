import { DEFAULT_SETTINGS, agentOverridesOf, mergeStoredRules, rulesUpdateOf } from '@libs/team-settings';
import { agentOverridesView, agentSettingsView, guardRulesOf, settingsView } from './settings-view';

describe(agentOverridesView.name, () => {
  it('shows only what the agent sets, in api units, shaped as the PUT body that sets it', () => {
    const body = {
      baseline_days: 7,
      rules: { spend_zscore: { min_excess: 0.25 }, session_outlier: { min_cost: 2, enabled: false } },
    };
    const stored = agentOverridesOf({
      team: 'support',
      agent_id: 'research-agent',
      zscore_threshold: null,
      baseline_days: 7,
      min_history_days: null,
      detector_rules: mergeStoredRules({}, rulesUpdateOf(body.rules)!),
    });
    expect(agentOverridesView(stored)).toEqual(body);
    expect(agentOverridesView(null)).toEqual({});
  });
});

describe(agentSettingsView.name, () => {
  it('shows the settings in force as the team view does, without budgets and guard rules (the team’s)', () => {
    const settings = {
      ...DEFAULT_SETTINGS,
      budgets: [
        { scope: 'team' as const, subject: '', period: 'day' as const, amountNanos: 5e9, currency: 'USD' },
      ],
    };
    const { budgets: _budgets, guard: _guard, ...team } = settingsView('support', settings);
    expect(agentSettingsView('support', 'research-agent', null, settings)).toEqual({
      team: 'support',
      agent_id: 'research-agent',
      overrides: {},
      effective: team,
    });
  });
});

describe(guardRulesOf.name, () => {
  const rule = {
    id: 'loop-cap',
    action: 'block' as const,
    match: {},
    limit: { metric: 'runs' as const, amount: 5, window_s: 60 },
  };

  it('hands unique rules over, and refuses a repeated id with 400 naming it', () => {
    expect(guardRulesOf({ rules: [rule, { ...rule, id: 'other' }] })).toHaveLength(2);
    let error: unknown;
    try {
      guardRulesOf({ rules: [rule, { ...rule, id: 'other' }, rule] });
    } catch (err) {
      error = err;
    }
    expect(JSON.stringify((error as { getResponse(): unknown }).getResponse())).toContain(
      'guard.rules[2].id',
    );
  });

  it('shows the guard rules and each budget’s block_at_100 in the team view, and neither in an agent’s', () => {
    const settings = {
      ...DEFAULT_SETTINGS,
      guard: { rules: [rule] },
      budgets: [
        {
          scope: 'team' as const,
          subject: '',
          period: 'day' as const,
          amountNanos: 5e9,
          currency: 'USD',
          blockAt100: true,
        },
      ],
    };
    const view = settingsView('ops', settings);
    expect(view.guard).toEqual({ rules: [rule] });
    expect(view.budgets[0].block_at_100).toBe(true);
    expect(agentSettingsView('ops', 'a', null, settings).effective).not.toHaveProperty('guard');
  });
});
