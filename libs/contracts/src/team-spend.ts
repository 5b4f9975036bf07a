/** The team-spend record (schemas/team-spend.avsc): one team's spend in one batch of one partition of runs.priced. */
export interface TeamSpendEntry {
  /** finished_at of the latest of those runs. */
  at: number;
  customer_id: string | null;
  spend_nanos: number;
  /** The latest of those runs: the trigger of what the spend makes fire. */
  run_id: string;
  /** Every one of those runs was late. */
  late: boolean;
}

export interface TeamSpend {
  team: string;
  currency: string;
  entries: TeamSpendEntry[];
}
