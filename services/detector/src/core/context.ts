import { monthWindow } from '@libs/team-settings';
import type { Contributor, RuleName } from './anomaly';

/** An agent's totals for one day (in its team's time zone). Money in nano-units. */
export interface DayTotals {
  start: number;
  end: number;
  spendNanos: number;
  runs: number;
  successful: number;
  unattributedNanos: number;
  unpricedRuns: number;
  /** Input tokens (uncached, cache read and cache write). */
  inputTokens: number;
}

/** What normal looks like for an agent, over the trailing complete days. Money per day or per run, nano-units. */
export interface Baseline {
  days: number;
  spendMean: number;
  spendStddev: number;
  /**
   * Today's expected spend and its deviation knowing the week and the trend (the aggregator's expectedDay), with the
   * day type's factor; absent in records written before the aggregator worked them out.
   */
  expected: { spend: number; stddev: number; factor: number; trendPerDay: number } | null;
  costPerRunMean: number | null;
  costPerSuccessMean: number | null;
  unattributedMean: number;
}

/** The day-level facts the stats rules read, from an agent-stats record. */
export interface AgentDayContext {
  team: string;
  agentId: string;
  currency: string;
  at: number;
  today: DayTotals;
  /** The last complete day, if the ledger has it. */
  yesterday: DayTotals | null;
  baseline: Baseline;
  /** Cost per run over the agent's most recent runs (nano-units), and how many runs that covers. */
  recentCostPerRun: { nanos: number; runs: number } | null;
  /** Mean cost per run of the oldest days in the ledger, the reference cost-per-run drift is measured from. */
  referenceCostPerRun: { nanos: number; days: number } | null;
  /** Input tokens per run of yesterday and today together. */
  inputTokensPerRun: number | null;
  /** Medians of daily input tokens per run and cost per run 2-4 weeks before today: what prompt creep is measured from. */
  referenceInput: { tokensPerRun: number; costPerRunNanos: number; days: number } | null;
  topCustomers: Contributor[];
  topFeatures: Contributor[];
}

export const money = (nanos: number, currency: string): string =>
  `${currency === 'USD' ? '$' : currency === 'GBP' ? '£' : currency === 'EUR' ? '€' : `${currency} `}${(nanos / 1e9).toFixed(nanos < 1e9 ? 4 : 2)}`;

export const fixed = (x: number, digits = 1): string => x.toFixed(digits);

/**
 * The verdict's frame for a slow rule judged per calendar month of the team's time zone (cost per run drift, prompt
 * creep): it pages at most once a month per agent.
 */
export function monthFrame(rule: RuleName, ctx: AgentDayContext, timezone: string) {
  const month = monthWindow(ctx.today.start, timezone);
  return {
    rule,
    team: ctx.team,
    agentId: ctx.agentId,
    subject: '',
    windowStart: month.start,
    windowEnd: month.end,
  };
}
