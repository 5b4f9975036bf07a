import { DEFAULT_SETTINGS, agentOverridesOf, mergeStoredRules, rulesUpdateOf } from '@libs/team-settings';
import { agentOverridesView, agentSettingsView, settingsView } from './settings-view';

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
  it('shows the settings in force as the team view does, without budgets', () => {
    const settings = {
      ...DEFAULT_SETTINGS,
      budgets: [
        { scope: 'team' as const, subject: '', period: 'day' as const, amountNanos: 5e9, currency: 'USD' },
      ],
    };
    const { budgets: _budgets, ...team } = settingsView('support', settings);
    expect(agentSettingsView('support', 'research-agent', null, settings)).toEqual({
      team: 'support',
      agent_id: 'research-agent',
      overrides: {},
      effective: team,
    });
  });
});
