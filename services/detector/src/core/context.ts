import { moments } from '@libs/stats';
import type { Contributor } from './anomaly';

/** An agent's totals for one day (in its team's time zone). Money in nano-units. */
export interface DayTotals {
  start: number;
  end: number;
  spendNanos: number;
  runs: number;
  successful: number;
  unattributedNanos: number;
  unpricedRuns: number;
}

/** What normal looks like for an agent, over the trailing complete days. Money per day or per run, nano-units. */
export interface Baseline {
  days: number;
  spendMean: number;
  spendStddev: number;
  costPerRunMean: number | null;
  costPerSuccessMean: number | null;
  unattributedMean: number;
}

/** The day-level facts the stats rules read: from the detector's own ledger or from an agent-stats record. */
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
  /** Mean cost per run of the oldest days in the ledger, the reference prompt creep is measured from. */
  referenceCostPerRun: { nanos: number; days: number } | null;
  topCustomers: Contributor[];
  topFeatures: Contributor[];
}

/** Baseline over the last `days` complete days of `history` (oldest first). Days without runs count as zero spend. */
export function baselineOf(history: readonly DayTotals[], days: number): Baseline {
  const window = history.slice(-days);
  const spend = moments(window.map((d) => d.spendNanos));
  const runs = window.reduce((a, d) => a + d.runs, 0);
  const successful = window.reduce((a, d) => a + d.successful, 0);
  const total = window.reduce((a, d) => a + d.spendNanos, 0);
  return {
    days: window.length,
    spendMean: spend.mean,
    spendStddev: spend.stddev,
    costPerRunMean: runs > 0 ? total / runs : null,
    costPerSuccessMean: successful > 0 ? total / successful : null,
    unattributedMean: window.length ? window.reduce((a, d) => a + d.unattributedNanos, 0) / window.length : 0,
  };
}

export const money = (nanos: number, currency: string): string =>
  `${currency === 'USD' ? '$' : currency === 'GBP' ? '£' : currency === 'EUR' ? '€' : `${currency} `}${(nanos / 1e9).toFixed(nanos < 1e9 ? 4 : 2)}`;

export const fixed = (x: number, digits = 1): string => x.toFixed(digits);
