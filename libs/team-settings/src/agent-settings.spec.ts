import { agentKey } from '@libs/contracts';
import {
  agentOverridesOf,
  agentSettingsFromRows,
  withAgentOverrides,
  type AgentSettingsRow,
} from './agent-settings';
import { mergeStoredRules } from './repository';
import { rulesUpdateOf, rulesView } from './rules';
import { DEFAULT_SETTINGS, type DetectorSettings } from './settings';
import type { SettingsLogger } from './stored-values';

function recorder(): SettingsLogger & { lines: { msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { lines, warn: (msg, fields) => lines.push({ msg, fields }) };
}

const row = (over: Partial<AgentSettingsRow>): AgentSettingsRow => ({
  team: 'support',
  agent_id: 'research-agent',
  zscore_threshold: null,
  baseline_days: null,
  min_history_days: null,
  detector_rules: {},
  ...over,
});

/** A team's settings in force, other than the defaults wherever an agent may override them. */
const team: DetectorSettings = {
  ...DEFAULT_SETTINGS,
  timezone: 'Europe/London',
  qualityThreshold: 0.7,
  zscore: {
    ...DEFAULT_SETTINGS.zscore,
    threshold: 3,
    baselineDays: 10,
    minHistoryDays: 5,
    minExcessNanos: 2e9,
  },
  costPerRun: { ...DEFAULT_SETTINGS.costPerRun, ratio: 4, enabled: false },
  session: { ...DEFAULT_SETTINGS.session, minCostNanos: 2e9 },
  budgets: [{ scope: 'team', subject: '', period: 'day', amountNanos: 50e9, currency: 'USD' }],
};

describe(withAgentOverrides.name, () => {
  it('is the team’s settings where the agent sets nothing', () => {
    const logger = recorder();
    expect(withAgentOverrides(team, row({}), logger)).toEqual(team);
    expect(logger.lines).toEqual([]);
  });

  it('lays the agent’s values over the team’s, one parameter at a time; budgets, time zone and quality stay the team’s', () => {
    const logger = recorder();
    const s = withAgentOverrides(
      team,
      row({
        zscore_threshold: 4,
        baseline_days: '7',
        detector_rules: mergeStoredRules(
          {},
          rulesUpdateOf({
            spend_zscore: { min_excess: 0.5 },
            cost_per_run_jump: { enabled: true },
            session_outlier: { median_multiple: 8 },
          })!,
        ),
      }),
      logger,
    );
    expect(s.zscore).toEqual({
      ...team.zscore,
      threshold: 4,
      baselineDays: 7,
      minHistoryDays: 5,
      minExcessNanos: 0.5e9,
      enabled: true,
    });
    expect(s.costPerRun).toEqual({ ...team.costPerRun, enabled: true });
    expect(s.session).toEqual({ ...team.session, medianMultiple: 8 });
    expect(s.runRate).toBe(team.runRate);
    expect(s.timezone).toBe('Europe/London');
    expect(s.qualityThreshold).toBe(0.7);
    expect(s.budgets).toBe(team.budgets);
    expect(rulesView(s).cost_per_run_jump).toEqual({ ratio: 4, enabled: true });
    expect(logger.lines).toEqual([]);
  });

  it('never throws on a stored value of the wrong type or out of range: it uses the team’s and logs each', () => {
    const logger = recorder();
    const s = withAgentOverrides(
      team,
      row({
        zscore_threshold: 'high',
        baseline_days: 60,
        min_history_days: 2.5,
        detector_rules: {
          costPerRun: { ratio: 0.5, enabled: 'no' },
          runRate: { minRunsPerMinute: 2.5, normMultiple: 20 },
          zscore: { minExcessNanos: 0.5 },
          session: 'loud',
        },
      }),
      logger,
    );
    expect(s.zscore).toEqual(team.zscore);
    expect(s.costPerRun).toEqual(team.costPerRun);
    expect(s.session).toEqual(team.session);
    expect(s.runRate).toEqual({ ...team.runRate, normMultiple: 20 });
    expect(logger.lines.map((l) => l.fields?.setting)).toEqual([
      'zscore_threshold',
      'baseline_days',
      'min_history_days',
      'rules.spend_zscore.min_excess',
      'rules.cost_per_run_jump.ratio',
      'rules.cost_per_run_jump.enabled',
      'rules.session_outlier',
      'rules.run_rate_loop.min_runs_per_minute',
    ]);
    expect(logger.lines[0]).toEqual({
      msg: 'stored agent setting is invalid; using the team’s',
      fields: { team: 'support', agent_id: 'research-agent', setting: 'zscore_threshold', value: 'high' },
    });
  });

  it('takes only the rule parameters the api sets: not the time zone, late grace, budgets or aggregator caps', () => {
    const logger = recorder();
    const rules: unknown = JSON.parse(
      '{"timezone": "Asia/Tokyo", "lateAfterMs": 1, "budgets": [], "runRate": {"capPerMinute": 5},' +
        ' "__proto__": {"polluted": true}, "promptCreep": {"__proto__": {"polluted": true}, "ratio": 2}}',
    );
    const s = withAgentOverrides(team, row({ detector_rules: rules }), logger);
    expect(s).toEqual({ ...team, promptCreep: { ...team.promptCreep, ratio: 2 } });
    expect(Object.getPrototypeOf(s.promptCreep)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(logger.lines).toEqual([]);
  });

  it('lowers a min_history_days above baseline_days to baseline_days, and logs it', () => {
    const logger = recorder();
    // the agent's 9 days were checked against the team's baseline of 10; the agent's own baseline is lower
    const s = withAgentOverrides(team, row({ min_history_days: 9, baseline_days: 7 }), logger);
    expect(s.zscore).toMatchObject({ baselineDays: 7, minHistoryDays: 7 });
    expect(logger.lines).toEqual([
      {
        msg: 'agent min_history_days exceeds its baseline_days; using baseline_days',
        fields: {
          team: 'support',
          agent_id: 'research-agent',
          setting: 'min_history_days',
          value: 9,
          using: 7,
        },
      },
    ]);
  });
});

describe(agentOverridesOf.name, () => {
  it('holds only what is set and valid', () => {
    const logger = recorder();
    expect(
      agentOverridesOf(
        row({
          zscore_threshold: 3.5,
          min_history_days: 'x',
          detector_rules: { unpriced: { enabled: false }, costPerRun: {} },
        }),
        logger,
      ),
    ).toEqual({ zscoreThreshold: 3.5, rules: { unpriced: { enabled: false } } });
    expect(logger.lines.map((l) => l.fields?.setting)).toEqual(['min_history_days']);
  });

  it('logs detector_rules that are not an object', () => {
    const logger = recorder();
    expect(agentOverridesOf(row({ detector_rules: [1] }), logger)).toEqual({ rules: {} });
    expect(logger.lines.map((l) => l.fields?.setting)).toEqual(['rules']);
  });
});

describe(agentSettingsFromRows.name, () => {
  it('keys each agent by team and agent, over its own team’s settings (the defaults for a team without any)', () => {
    const all = agentSettingsFromRows(
      [row({ zscore_threshold: 4 }), row({ team: 'billing', zscore_threshold: 5 })],
      new Map([['support', team]]),
      recorder(),
    );
    expect([...all.keys()]).toEqual([agentKey('support', 'research-agent'), 'billing/research-agent']);
    expect(all.get('support/research-agent')!.zscore).toEqual({ ...team.zscore, threshold: 4 });
    expect(all.get('billing/research-agent')!.zscore).toEqual({ ...DEFAULT_SETTINGS.zscore, threshold: 5 });
  });
});
