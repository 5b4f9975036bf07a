import { api, type Money } from '../api';
import { formatMoney, toNanos } from '../format';
import { href } from '../router';
import { Async, useData } from '../ui';

interface TreeNode {
  run_id: string;
  agent_id: string;
  model: string;
  status: string;
  cost: Money;
  rolled_up_cost: Money;
  children: TreeNode[];
}
type Tree = TreeNode & { truncated: boolean };

/** The call tree of a run: each node with its own cost and its children's rolled up into it. */
export function RunPage({ runId, query }: { runId: string; query: URLSearchParams }) {
  const team = query.get('team');
  const tree = useData(
    () => api<Tree>(`/v1/runs/${encodeURIComponent(runId)}/tree`, { team }),
    [runId, team],
  );
  return (
    <section>
      <p class="crumbs">
        <a href={href(['spend'])}>Spend</a> › run
      </p>
      <h1>
        Run <code>{runId}</code>
      </h1>
      <Async state={tree} what="the call tree">
        {(root) => (
          <>
            <p>
              {root.agent_id} spent {formatMoney(root.cost)} itself and {formatMoney(root.rolled_up_cost)}{' '}
              with the {count(root) - 1} runs it spawned. Each bar shows a run’s rolled-up cost as a share of
              the whole tree.
            </p>
            {root.truncated && (
              <p class="notice" role="note">
                The tree was cut short (too many runs or levels, or runs naming each other as parents): not
                every descendant is shown.
              </p>
            )}
            <ul class="tree" role="tree" aria-label={`Call tree of ${runId}`} data-testid="call-tree">
              <Node node={root} total={toNanos(root.rolled_up_cost.amount)} team={team} level={1} />
            </ul>
          </>
        )}
      </Async>
    </section>
  );
}

const count = (n: TreeNode): number => 1 + n.children.reduce((s, c) => s + count(c), 0);

function Node({
  node,
  total,
  team,
  level,
}: {
  node: TreeNode;
  total: bigint;
  team: string | null;
  level: number;
}) {
  const share = total > 0n ? Number((toNanos(node.rolled_up_cost.amount) * 1000n) / total) / 10 : 0;
  return (
    <li role="treeitem" aria-level={level} aria-expanded={node.children.length ? true : undefined}>
      <div class="node">
        <div class="node-head">
          <strong>{node.agent_id}</strong> <span class="sub">{node.model}</span>{' '}
          <span class={`badge status-${node.status}`}>{node.status}</span>
        </div>
        <div class="node-run">
          <a href={href(['run', node.run_id], { team })}>{node.run_id}</a>
        </div>
        <div class="node-cost">
          <span>
            own <strong>{formatMoney(node.cost)}</strong>
          </span>
          <span>
            rolled up <strong>{formatMoney(node.rolled_up_cost)}</strong> ({share}%)
          </span>
        </div>
        <div class="share" aria-hidden="true">
          <span style={{ width: `${Math.max(1, share)}%` }} />
        </div>
      </div>
      {node.children.length > 0 && (
        <ul role="group">
          {node.children.map((c) => (
            <Node key={c.run_id} node={c} total={total} team={team} level={level + 1} />
          ))}
        </ul>
      )}
    </li>
  );
}
