import type { AgentDayContext, Baseline, DayTotals } from '../core/context';

const DAY = 86_400_000;
export const T0 = Date.UTC(2026, 2, 10);
export const USD = 1_000_000_000;

export function day(over: Partial<DayTotals> = {}): DayTotals {
  return {
    start: T0,
    end: T0 + DAY,
    spendNanos: 0,
    runs: 0,
    successful: 0,
    unattributedNanos: 0,
    unpricedRuns: 0,
    inputTokens: 0,
    ...over,
  };
}

export function baseline(over: Partial<Baseline> = {}): Baseline {
  return {
    days: 14,
    spendMean: 10 * USD,
    spendStddev: 2 * USD,
    expected: null,
    costPerRunMean: USD / 10,
    costPerSuccessMean: USD / 9,
    unattributedMean: 0,
    ...over,
  };
}

/** An agent-day context for rule specs: an agent that usually spends $10 ± $2 a day at $0.10 a run. */
export function dayContext(over: Partial<AgentDayContext> = {}): AgentDayContext {
  return {
    team: 'support',
    agentId: 'triage',
    currency: 'USD',
    at: T0 + 12 * 3_600_000,
    today: day(),
    yesterday: null,
    baseline: baseline(),
    recentCostPerRun: null,
    referenceCostPerRun: null,
    inputTokensPerRun: null,
    referenceInput: null,
    topCustomers: [],
    topFeatures: [],
    ...over,
  };
}
