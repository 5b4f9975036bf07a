import { DEFAULT_SETTINGS } from '@libs/team-settings';
import type { AgentDayContext } from '../core/context';
import { day, dayContext, USD } from '../testing/context';
import { PromptCreepRule } from './prompt-creep.rule';

describe(PromptCreepRule.name, () => {
  const sut = new PromptCreepRule();
  const p = DEFAULT_SETTINGS.promptCreep;
  /** An agent that sent 1,000 input tokens a run 3-5 weeks ago at $0.01 a run (output most of it: input 27%). */
  const reference = { tokensPerRun: 1_000, costPerRunNanos: 0.01 * USD, days: 14 };
  /** Input tokens per run today and yesterday as multiples of the reference; cost per run follows at 27% input. */
  const ctx = (today: number, yesterday = today, runs = 100, over: Partial<AgentDayContext> = {}) => {
    const cost = (x: number) => 0.01 * USD * (0.73 + 0.27 * x);
    return dayContext({
      today: day({ runs, spendNanos: runs * cost(today), inputTokens: runs * 1_000 * today }),
      yesterday: day({ runs, spendNanos: runs * cost(yesterday), inputTokens: runs * 1_000 * yesterday }),
      inputTokensPerRun: (1_000 * (today + yesterday)) / 2,
      referenceInput: reference,
      baseline: { ...dayContext().baseline, costPerRunMean: cost(1) },
      ...over,
    });
  };
  const judge = (c: AgentDayContext, history = 30, settings = p) =>
    sut.evaluate(c, settings, DEFAULT_SETTINGS.costPerRun.ratio, 'UTC', history);

  it('pages a doubling of input tokens per run though cost per run is up only 27%, once per month', () => {
    const r = judge(ctx(2));
    expect(r?.rule).toBe('prompt_creep');
    expect(r?.finding).toMatchObject({
      severity: 'error',
      observed: 2_000,
      threshold: 1_350,
      baselineMean: 1_000,
      costPerRunBeforeNanos: 0.01 * USD,
      costPerRunNowNanos: Math.round(0.0127 * USD),
      details: { unit: 'tokens/run', ratio: '2.00', reference_days: '14', cost_per_run_ratio: '1.27' },
    });
    expect(r?.finding?.summary).toBe(
      "triage's input has crept to 2,000 tokens per run, 2.00× the 1,000 it sent 3-5 weeks ago; cost per run " +
        '$0.0100 → $0.0127 (+27%) (prompt or context growth).',
    );
    expect(r?.windowStart).toBe(Date.UTC(2026, 2, 1));
    expect(r?.windowEnd).toBe(Date.UTC(2026, 3, 1));
    // on the way there, past the ratio: a warning
    expect(judge(ctx(1.7))?.finding?.severity).toBe('warning');
  });

  it('stays quiet for an agent whose mix merely wobbles (±20% a day), and clears once back near its level', () => {
    for (const [today, yesterday] of [
      [1.2, 1.2],
      [0.8, 1.2],
      [1.2, 0.8],
      [0.8, 0.8],
    ])
      expect(judge(ctx(today, yesterday))?.finding ?? null).toBeNull();
    for (const [today, yesterday] of [
      [0.8, 1.2],
      [1.1, 1.1],
      [0.8, 0.8],
    ])
      expect(judge(ctx(today, yesterday))).toMatchObject({ finding: null });
  });

  it('needs runs in yesterday and today, weeks of history, the reference, and the rule enabled', () => {
    expect(judge(ctx(2, 2, 24))).toBeNull(); // 48 runs
    expect(judge(ctx(2, 2, 25))?.finding).not.toBeNull(); // 50 runs
    expect(judge(ctx(2), 20)).toBeNull();
    expect(judge(ctx(2, 2, 100, { referenceInput: null }))).toBeNull();
    expect(judge(ctx(2, 2, 100, { inputTokensPerRun: null }))).toBeNull();
    expect(judge(ctx(2), 30, { ...p, minHistoryDays: 35 })).toBeNull();
  });

  it('leaves a rise of today alone (a loop, a burst) and a sudden cost jump to the runaway rules', () => {
    // yesterday at the old level: today's ×3.5 averages ×2.25 over the two days, yet it is not a creep (yet)
    expect(judge(ctx(3.5, 1))).toBeNull();
    expect(judge(ctx(3.5, 1, 100, { yesterday: null }))).toBeNull();
    // the same rise lasting since yesterday pages
    expect(judge(ctx(2.2, 1.4))?.finding).not.toBeNull();
    // cost per run at 3× the baseline is the jump rule's
    expect(
      judge(ctx(2, 2, 100, { baseline: { ...dayContext().baseline, costPerRunMean: 0.004 * USD } })),
    ).toBeNull();
  });

  it('holds between the clear level and the ratio (hysteresis): neither pages nor resolves', () => {
    // 1.35 pages; 1 + 0.5 × 0.35 = 1.175 clears (day-to-day noise in tokens per run is wider than 20% of the way)
    expect(judge(ctx(1.35))?.finding).not.toBeNull();
    expect(judge(ctx(1.33))).toBeNull();
    expect(judge(ctx(1.18))).toBeNull();
    expect(judge(ctx(1.17))?.finding).toBeNull();
    expect(judge(ctx(1.17))).not.toBeNull();
  });
});
