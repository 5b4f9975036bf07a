import type { AnomalyRecord } from '@libs/contracts';

/** An anomaly as the detector emits it (schemas/anomaly.avsc). */
export type Anomaly = AnomalyRecord;

export type Destination =
  | { type: 'webhook'; url: string; secret: string }
  | { type: 'slack'; webhook_url: string }
  | { type: 'pagerduty'; routing_key: string }
  | { type: 'teams'; webhook_url: string }
  | { type: 'email'; to: string[] };

export interface RouteMatch {
  /** Glob on the agent id, `*` any run of characters. */
  agent_id?: string;
  rule?: string[];
  severity?: string[];
}

export interface Route {
  id: string;
  /** null: the catch-all for every team. */
  team: string | null;
  match: RouteMatch;
  destinations: Destination[];
}
