/**
 * A guard decision in force (schemas/agent-control.avsc), on the compacted topic burnrate.agent-controls.v1. Keys:
 * `rule:<rule_id>|<team>/<agent_id>` and `budget:<budget_id>|<team>` (the detector), `manual:<block_id>` (the api).
 * A tombstone or a passed `until` lifts it.
 */
export interface AgentControl {
  team: string;
  agent_id: string | null;
  customer_id: string | null;
  tool: string | null;
  action: 'block' | 'alert';
  source: 'rule' | 'budget' | 'manual';
  source_id: string;
  reason: string;
  metric: 'cost' | 'runs' | 'tool_calls' | null;
  amount: number | null;
  observed: number | null;
  window_s: number | null;
  currency: string | null;
  since: number;
  until: number | null;
  actor: string | null;
  incident_dedupe_key: string | null;
}

export const controlKey = {
  rule: (ruleId: string, team: string, agentId: string): string => `rule:${ruleId}|${team}/${agentId}`,
  budget: (budgetId: string, team: string): string => `budget:${budgetId}|${team}`,
  manual: (blockId: string): string => `manual:${blockId}`,
};
