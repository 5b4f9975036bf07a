import { DEFAULT_SETTINGS, canonicalTimeZone, mergeSettings } from './settings';
import type { Pool } from 'pg';
import { TEAM_RULES, rulesUpdateOf, rulesView } from './rules';
import { agentSettingsFromRows } from './agent-settings';
import {
  PgTeamSettingsRepository,
  SettingsConflictError,
  mergeStoredRules,
  settingsFromRows,
  StaticTeamSettingsRepository,
  TeamSettingsCache,
  type SettingsLogger,
  type SettingsRow,
  type TeamSettingsRepository,
} from './repository';
import type { DetectorSettings } from './settings';

function recorder(): SettingsLogger & { lines: { msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { msg: string; fields?: Record<string, unknown> }[] = [];
  return { lines, warn: (msg, fields) => lines.push({ msg, fields }) };
}

const row = (over: Partial<SettingsRow>): SettingsRow => ({
  team: 'support',
  zscore_threshold: 3,
  baseline_days: 10,
  min_history_days: 5,
  timezone: 'Europe/London',
  quality_threshold: 0.7,
  min_excess_nanos: '2000000000',
  detector_rules: null,
  ...over,
});

describe(TeamSettingsCache.name, () => {
  it('serves defaults for unknown teams and the stored settings once refreshed', async () => {
    const stored = settingsFromRows(
      [
        {
          team: 'support',
          zscore_threshold: 3,
          baseline_days: 12,
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
    expect(s.zscore).toEqual({
      threshold: 3,
      baselineDays: 12,
      minHistoryDays: 5,
      minExcessNanos: 2e9,
      minExcessTeamShare: DEFAULT_SETTINGS.zscore.minExcessTeamShare,
      seasonal: true,
      enabled: true,
    });
    expect(s.timezone).toBe('Europe/London');
    expect(s.runRate.capPerMinute).toBe(50);
    expect(s.session.medianMultiple).toBe(DEFAULT_SETTINGS.session.medianMultiple);
    expect(s.budgets).toEqual([
      { scope: 'agent', subject: 'research-agent', period: 'month', amountNanos: 400e9, currency: 'USD' },
    ]);
    expect(sut.lookup('other')).toBe(DEFAULT_SETTINGS);
    expect(await sut.refresh()).toBe(false);
  });

  /** A repository whose version moves when told, and whose reads can be held until released. */
  class Versioned implements TeamSettingsRepository {
    version = 0;
    teams = new Map<string, DetectorSettings>();
    agents = new Map<string, DetectorSettings>();
    reads = 0;
    hold: Promise<void> | null = null;
    async fingerprint() {
      this.reads++;
      const v = this.version;
      if (this.hold) await this.hold;
      return String(v);
    }
    async loadAll() {
      return new Map(this.teams);
    }
    async loadAgents() {
      return new Map(this.agents);
    }
  }

  it('gives a call made during a refresh one that starts after it: a change committed meanwhile is seen', async () => {
    const repo = new Versioned();
    const sut = new TeamSettingsCache(repo);
    await sut.refresh();
    let release!: () => void;
    repo.hold = new Promise((r) => (release = r));
    const first = sut.refresh(); // reads version 0 and waits
    // the change commits, then a batch asks: the refresh under way read the version before it
    repo.version = 1;
    repo.teams.set('support', { ...DEFAULT_SETTINGS, timezone: 'Europe/Paris' });
    const second = sut.refresh();
    const third = sut.refresh(); // shares the second
    repo.hold = null;
    release();
    expect(await first).toBe(false);
    expect(await second).toBe(true);
    expect(await third).toBe(true);
    expect(sut.lookup('support').timezone).toBe('Europe/Paris');
    expect(repo.reads).toBe(3);
  });

  it('tells which teams a reload changed, their own settings or an agent’s', async () => {
    const repo = new Versioned();
    repo.teams.set('a', DEFAULT_SETTINGS);
    repo.teams.set('b', DEFAULT_SETTINGS);
    const sut = new TeamSettingsCache(repo);
    await sut.refresh();
    const loaded = sut.generation;
    expect(sut.changedSince(loaded)).toEqual([]);
    repo.version = 1;
    repo.teams.set('b', { ...DEFAULT_SETTINGS, budgets: [], qualityThreshold: 0.5 });
    await sut.refresh();
    expect(sut.changedSince(loaded)).toEqual(['b']);
    const second = sut.generation;
    repo.version = 2;
    repo.agents.set('a/research', {
      ...DEFAULT_SETTINGS,
      zscore: { ...DEFAULT_SETTINGS.zscore, threshold: 4 },
    });
    repo.teams.set('c', DEFAULT_SETTINGS);
    await sut.refresh();
    expect(sut.changedSince(second).sort()).toEqual(['a', 'c']);
    expect(sut.changedSince(loaded).sort()).toEqual(['a', 'b', 'c']);
    expect(sut.changedSince(sut.generation)).toEqual([]);
    expect(sut.changedSince(Infinity)).toEqual([]);
  });
});

describe(settingsFromRows.name, () => {
  it('never throws on stored values of the wrong type or out of range: it uses the default and logs each', () => {
    const logger = recorder();
    const all = settingsFromRows(
      [
        row({
          timezone: '{"Europe/London"}',
          baseline_days: 60,
          min_history_days: 'x',
          zscore_threshold: null,
          quality_threshold: '5',
          min_excess_nanos: 'lots',
          detector_rules: { timezone: 7, lateAfterMs: 'soon', zscore: 'high' } as never,
        }),
      ],
      [
        {
          team: 'support',
          scope: 'team',
          subject: '',
          period: 'day',
          amount_nanos: '1000',
          currency: 'usd',
        },
        {
          team: 'support',
          scope: 'planet',
          subject: '',
          period: 'day',
          amount_nanos: '1000',
          currency: 'USD',
        },
        {
          team: 'support',
          scope: 'agent',
          subject: 'a',
          period: 'day',
          amount_nanos: '2000',
          currency: 'USD',
        },
      ],
      logger,
    );
    const s = all.get('support')!;
    expect(s.timezone).toBe('UTC');
    expect(s.zscore).toEqual(DEFAULT_SETTINGS.zscore);
    expect(s.qualityThreshold).toBe(DEFAULT_SETTINGS.qualityThreshold);
    expect(s.lateAfterMs).toBe(DEFAULT_SETTINGS.lateAfterMs);
    expect(s.budgets).toEqual([
      { scope: 'agent', subject: 'a', period: 'day', amountNanos: 2000, currency: 'USD' },
    ]);
    expect(logger.lines.map((l) => l.fields?.setting)).toEqual([
      'timezone',
      'quality_threshold',
      'zscore_threshold',
      'baseline_days',
      'min_history_days',
      'min_excess_nanos',
      'budget',
      'budget',
    ]);
    expect(logger.lines[0]).toEqual({
      msg: 'stored team setting is invalid; using the default',
      fields: { team: 'support', setting: 'timezone', value: '{"Europe/London"}', using: 'UTC' },
    });
  });

  it('reads numeric columns PostgreSQL returns as strings, and canonical time zone names', () => {
    const logger = recorder();
    const s = settingsFromRows(
      [row({ timezone: 'europe/london', quality_threshold: '0.5', baseline_days: '7' })],
      [],
      logger,
    ).get('support')!;
    expect(s.timezone).toBe('Europe/London');
    expect(s.qualityThreshold).toBe(0.5);
    expect(s.zscore.baselineDays).toBe(7);
    expect(logger.lines).toEqual([]);
  });

  it('reads the guard rules and block_at_100, leaving out (and logging) a rule the api could not have written', () => {
    const logger = recorder();
    const good = {
      id: 'loop-cap',
      action: 'block',
      match: { agent: 'loop-*' },
      limit: { metric: 'runs', amount: 5, window_s: 60 },
    };
    const s = settingsFromRows(
      [
        row({
          detector_rules: {
            guard: {
              rules: [
                good,
                { ...good, id: 'too-long', limit: { ...good.limit, window_s: 100_000 } },
                { ...good, action: 'throttle' },
                good,
              ],
            },
          } as never,
        }),
      ],
      [
        {
          team: 'support',
          scope: 'agent',
          subject: 'loop-1',
          period: 'day',
          amount_nanos: '1000',
          currency: 'USD',
          block_at_100: true,
        },
      ],
      logger,
    ).get('support')!;
    expect(s.guard.rules).toEqual([good]);
    expect(s.budgets[0].blockAt100).toBe(true);
    expect(logger.lines.map((l) => l.fields?.setting)).toEqual([
      'guard.rules[1]',
      'guard.rules[2]',
      'guard.rules[3]',
    ]);
  });
});

describe(mergeSettings.name, () => {
  it('takes only known keys of the default’s type: __proto__ and constructor change nothing', () => {
    const rules: unknown = JSON.parse(
      '{"__proto__": {"polluted": true}, "constructor": {"x": 1}, "runRate": {"__proto__": {"polluted": true}, "constructor": 1, "capPerMinute": 50}}',
    );
    const s = mergeSettings(rules as never);
    expect(s.runRate).toEqual({ ...DEFAULT_SETTINGS.runRate, capPerMinute: 50 });
    expect(Object.getPrototypeOf(s.runRate)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(s)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(mergeSettings([] as never)).toBe(DEFAULT_SETTINGS);
  });
});

describe(canonicalTimeZone.name, () => {
  it.each([
    ['Europe/London', 'Europe/London'],
    ['europe/london', 'Europe/London'],
    ['UTC', 'UTC'],
    ['Etc/GMT+5', 'Etc/GMT+5'],
    ['Mars/Olympus', null],
    ['+01:00', null],
    ['', null],
    [['Europe/London'], null],
    ['Europe/London\u0000', null],
  ])('%j is %j', (value, canonical) => {
    expect(canonicalTimeZone(value)).toBe(canonical);
  });
});

describe('PgTeamSettingsRepository.save rules', () => {
  /** A pool whose one row of team_settings is `stored`; records every statement with its parameters. */
  function fakePool(stored: Record<string, unknown> | null) {
    const queries: { sql: string; params: unknown[] }[] = [];
    const client = {
      query: async (sql: string, params: unknown[] = []) => {
        queries.push({ sql, params });
        if (sql.startsWith('insert into team_settings'))
          return { rows: [{ baseline_days: 14, min_history_days: 7 }] };
        if (sql.startsWith('select detector_rules')) return { rows: [{ detector_rules: stored ?? {} }] };
        return { rows: [] };
      },
      release: () => undefined,
    };
    return { queries, pool: { connect: async () => client } as unknown as Pool };
  }
  const written = (queries: { sql: string; params: unknown[] }[]) => {
    const q = queries.find((x) => x.sql.startsWith('update team_settings set detector_rules'));
    return q && JSON.parse(q.params[1] as string);
  };

  it('merges the parameters given into the stored rules, keeps the others, and null removes one', async () => {
    const { pool, queries } = fakePool({
      costPerRun: { ratio: 4, enabled: false },
      session: { minCostNanos: 2e9 },
      runRate: { capPerMinute: 50 },
    });
    await new PgTeamSettingsRepository(pool).save('support', {
      rules: rulesUpdateOf({
        cost_per_run_jump: { ratio: 2.5 },
        session_outlier: { min_cost: null, enabled: false },
      }),
    });
    expect(written(queries)).toEqual({
      costPerRun: { ratio: 2.5, enabled: false },
      session: { enabled: false },
      runRate: { capPerMinute: 50 },
    });
    expect(queries.map((q) => q.sql.split(' ')[0])).toEqual([
      'begin',
      'insert',
      'select',
      'update',
      'commit',
    ]);
  });

  it('writes min_excess to the min_excess_nanos column (which owns it), null back to the default', async () => {
    const minExcessParam = async (minExcess: number | null | undefined) => {
      const { pool, queries } = fakePool(null);
      await new PgTeamSettingsRepository(pool).save('support', {
        rules: rulesUpdateOf({ spend_zscore: minExcess === undefined ? {} : { min_excess: minExcess } }),
      });
      expect(written(queries)).toBeUndefined(); // nothing for the JSON
      return queries.find((q) => q.sql.startsWith('insert'))!.params[11];
    };
    expect(await minExcessParam(0.25)).toBe('250000000');
    expect(await minExcessParam(null)).toBe(String(DEFAULT_SETTINGS.zscore.minExcessNanos));
    expect(await minExcessParam(undefined)).toBeNull(); // kept as stored
  });

  it('drops a rule whose parameters all went back to their defaults', () => {
    expect(mergeStoredRules({ costPerRun: { ratio: 4 } }, { costPerRun: { ratio: null } })).toEqual({});
    expect(mergeStoredRules('junk', { promptCreep: { enabled: false } })).toEqual({
      promptCreep: { enabled: false },
    });
  });

  it('reads back what it wrote, and shows every rule in api units', () => {
    const s = settingsFromRows(
      [
        row({
          min_excess_nanos: '250000000',
          detector_rules: mergeStoredRules(
            {},
            rulesUpdateOf({
              unattributed_spend: { min_amount: 2, share: 0.3 },
              unpriced_model: { enabled: false },
            })!,
          ) as never,
        }),
      ],
      [],
    ).get('support')!;
    const view = rulesView(s);
    expect(view.spend_zscore).toEqual({
      min_excess: 0.25,
      min_excess_team_share: 0.02,
      seasonal: true,
      enabled: true,
    });
    expect(view.unattributed_spend).toEqual({ share: 0.3, min_amount: 2, enabled: true });
    expect(view.unpriced_model).toEqual({ enabled: false });
    expect(view.cost_per_run_jump).toEqual({ ratio: 3, enabled: true });
    expect(Object.keys(view)).toEqual(Object.keys(TEAM_RULES));
  });

  it('uses the default, and logs, for a stored rule parameter out of range or of the wrong type', () => {
    const logger = recorder();
    const s = settingsFromRows(
      [
        row({
          min_excess_nanos: String(1e9 * 1e6),
          detector_rules: {
            costPerRun: { ratio: 0.5, enabled: 'no' },
            runRate: { minRunsPerMinute: 2.5, normMultiple: 20 },
            unattributed: { minAmountNanos: 1e9 * 1e6 },
          } as never,
        }),
      ],
      [],
      logger,
    ).get('support')!;
    expect(s.costPerRun).toEqual(DEFAULT_SETTINGS.costPerRun);
    expect(s.runRate).toEqual({ ...DEFAULT_SETTINGS.runRate, normMultiple: 20 });
    expect(s.unattributed).toEqual(DEFAULT_SETTINGS.unattributed);
    expect(s.zscore.minExcessNanos).toBe(DEFAULT_SETTINGS.zscore.minExcessNanos);
    expect(logger.lines.map((l) => l.fields?.setting)).toEqual([
      'rules.cost_per_run_jump.ratio',
      'rules.cost_per_run_jump.enabled',
      'rules.run_rate_loop.min_runs_per_minute',
      'rules.unattributed_spend.min_amount',
      'min_excess_nanos',
    ]);
  });
});

describe('PgTeamSettingsRepository agent settings', () => {
  /**
   * A pool whose team has baseline_days 10 and min_history_days 7, and whose agent row, after the upsert, holds
   * `stored`; records every statement with its parameters.
   */
  function fakePool(
    stored: { baseline_days?: number; min_history_days?: number; detector_rules?: unknown } = {},
  ) {
    const queries: { sql: string; params: unknown[] }[] = [];
    const query = async (sql: string, params: unknown[] = []) => {
      queries.push({ sql, params });
      if (sql.includes('information_schema')) return { rows: [{}], rowCount: 1 };
      if (sql.includes('from team_settings'))
        return { rows: [row({ baseline_days: 10, min_history_days: 7 })] };
      if (sql.startsWith('insert into agent_settings'))
        return {
          rows: [
            {
              baseline_days: stored.baseline_days ?? params[3] ?? null,
              min_history_days: stored.min_history_days ?? params[4] ?? null,
              detector_rules: stored.detector_rules ?? {},
            },
          ],
        };
      return { rows: [], rowCount: 0 };
    };
    const client = { query, release: () => undefined };
    return { queries, pool: { query, connect: async () => client } as unknown as Pool };
  }
  const statements = (queries: { sql: string }[]) =>
    queries
      .map((q) => q.sql.trim().split(/\s+/).slice(0, 2).join(' '))
      .filter((s) => !s.startsWith('select'));

  it('changes only the columns given: a value overrides, null removes the override, absent keeps it', async () => {
    const { pool, queries } = fakePool();
    await new PgTeamSettingsRepository(pool).saveAgent('support', 'research-agent', {
      zscoreThreshold: 4,
      baselineDays: null,
    });
    const upsert = queries.find((q) => q.sql.startsWith('insert into agent_settings'))!;
    expect(upsert.params).toEqual(['support', 'research-agent', 4, null, null]);
    expect(upsert.sql).toMatch(
      /do update set zscore_threshold = excluded\.zscore_threshold, baseline_days = excluded\.baseline_days, updated_at = now\(\)/,
    );
    expect(upsert.sql).not.toContain('min_history_days = excluded');
    expect(statements(queries)).toEqual(['begin', 'insert into', 'delete from', 'commit']);
  });

  it('merges the rules given into the agent’s stored rules, null removing one', async () => {
    const { pool, queries } = fakePool({
      detector_rules: { costPerRun: { ratio: 4, enabled: false }, runRate: { normMultiple: 20 } },
    });
    await new PgTeamSettingsRepository(pool).saveAgent('support', 'research-agent', {
      rules: rulesUpdateOf({ cost_per_run_jump: { ratio: null }, spend_zscore: { min_excess: 0.5 } }),
    });
    const update = queries.find((q) => q.sql.startsWith('update agent_settings set detector_rules'))!;
    expect(JSON.parse(update.params[2] as string)).toEqual({
      costPerRun: { enabled: false },
      runRate: { normMultiple: 20 },
      zscore: { minExcessNanos: 0.5e9 },
    });
  });

  it.each([
    [{ minHistoryDays: 12 }, {}, 'min_history_days', 'cannot exceed baseline_days (10)'],
    [{ baselineDays: 5 }, {}, 'baseline_days', 'cannot be less than min_history_days (7)'],
    [
      { minHistoryDays: null },
      { baseline_days: 5 },
      'min_history_days',
      'would be the team’s (7), above this agent’s baseline_days (5)',
    ],
    [
      { baselineDays: null },
      { min_history_days: 12 },
      'baseline_days',
      'would be the team’s (10), below this agent’s min_history_days (12)',
    ],
  ] as const)(
    'refuses %j over the team’s baseline 10 and history 7 (stored %j), naming %s, and rolls back',
    async (update, stored, field, message) => {
      const { pool, queries } = fakePool(stored);
      const err = await new PgTeamSettingsRepository(pool)
        .saveAgent('support', 'research-agent', update)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SettingsConflictError);
      expect(err).toMatchObject({ field, message });
      expect(statements(queries)).toEqual(['begin', 'insert into', 'rollback']);
    },
  );

  it('lets a rules-only update through whatever the history days are', async () => {
    const { pool, queries } = fakePool({ baseline_days: 5, min_history_days: 12 });
    await new PgTeamSettingsRepository(pool).saveAgent('support', 'research-agent', {
      rules: rulesUpdateOf({ unpriced_model: { enabled: false } }),
    });
    expect(statements(queries)).toEqual([
      'begin',
      'insert into',
      'update agent_settings',
      'delete from',
      'commit',
    ]);
  });

  it('reads the settings version, which triggers on team_settings, budgets and agent_settings move', async () => {
    const { pool, queries } = fakePool();
    await new PgTeamSettingsRepository(pool).fingerprint().catch(() => undefined);
    expect(queries[0].sql).toContain('from settings_version');
  });
});

describe(`${TeamSettingsCache.name} with agent settings`, () => {
  it('serves an agent with overrides its own settings, and every other agent its team’s', async () => {
    const teams = settingsFromRows([row({ zscore_threshold: 3 })], []);
    const agents = agentSettingsFromRows(
      [
        {
          team: 'support',
          agent_id: 'research-agent',
          zscore_threshold: 5,
          baseline_days: null,
          min_history_days: null,
          detector_rules: { unpriced: { enabled: false } },
        },
      ],
      teams,
    );
    const sut = new TeamSettingsCache(new StaticTeamSettingsRepository(teams, agents));
    expect(await sut.refresh()).toBe(true);
    const own = sut.lookup('support', 'research-agent');
    expect(own.zscore.threshold).toBe(5);
    expect(own.unpriced.enabled).toBe(false);
    expect(own.timezone).toBe('Europe/London');
    expect(sut.lookup('support', 'support-triage')).toBe(teams.get('support'));
    expect(sut.lookup('support')).toBe(teams.get('support'));
    expect(sut.lookup('other', 'research-agent')).toBe(DEFAULT_SETTINGS);
  });
});
