/**
 * An agent that calls a sub-agent, instrumented with nothing but @burnrate/sdk, and its call tree read back from the
 * api. On the local stack:
 *
 *   npm run up
 *   KEY=$(curl -s -XPOST localhost:8080/v1/api-keys -H "Authorization: Bearer $(cat .burnrate/admin-key)" \
 *     -H 'content-type: application/json' -d '{"team":"support","name":"sdk example"}' | jq -r .key)
 *   BURNRATE_API_KEY=$KEY node -r @swc-node/register examples/sdk-agent.ts
 *
 * (a team key: its runs are its team's).
 *
 * With OPENAI_API_KEY set it calls OpenAI; without, a local stand-in that answers as the Chat Completions API does
 * (so the example runs offline). Each `burnrate.run` is a run of its own (the tree's nodes); each completion inside it
 * is a run whose parent is that node. The SDK sends no cost: pricing prices the tokens the provider reported.
 */
import OpenAI from 'openai';
import { createBurnrate } from '@burnrate/sdk';
import { fakeOpenAI } from '../packages/sdk/src/spec-support/providers';

interface TreeNode {
  run_id: string;
  agent_id: string;
  model: string;
  cost: { amount: string; currency: string };
  rolled_up_cost: { amount: string; currency: string };
  children: TreeNode[];
}

async function main(): Promise<void> {
  const apiUrl = process.env.BURNRATE_API_URL ?? 'http://localhost:8080';
  const local = process.env.OPENAI_API_KEY ? null : await fakeOpenAI();
  const burnrate = createBurnrate({
    apiKey: process.env.BURNRATE_API_KEY,
    ingestUrl: process.env.BURNRATE_INGEST_URL ?? 'http://localhost:8081',
    apiUrl,
  });
  const openai = burnrate.wrapOpenAI(
    new OpenAI({ apiKey: process.env.OPENAI_API_KEY ?? 'sk-local', ...(local && { baseURL: local.url }) }),
  );
  const ask = (content: string) =>
    openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] });

  let root = '';
  await burnrate.run({ agent_id: 'planner', customer_id: 'cus_8821', feature: 'research' }, async () => {
    root = burnrate.currentRun()!.run_id;
    await ask('Plan a literature review on prompt caching.');
    // the sub-agent: its own agent_id, the planner's run as its parent, the same session; two searches at once
    await burnrate.run({ agent_id: 'researcher' }, async () => {
      await Promise.all([
        ask('Find papers on KV-cache reuse.'),
        ask('Find vendor docs on prompt caching prices.'),
      ]);
    });
    await ask('Summarise what the researcher found.');
  });
  await burnrate.shutdown();
  console.log(`sent; root run ${root} (stats: ${JSON.stringify(burnrate.stats())})`);

  // the runs are priced and stored within seconds: read the tree the api draws from them
  const headers = { authorization: `Bearer ${process.env.BURNRATE_API_KEY}` };
  // six runs: the planner, its two completions, the researcher and its two
  let tree: TreeNode | null = null;
  for (let attempt = 0; attempt < 60 && (tree === null || count(tree) < 6); attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 1000));
    const res = await fetch(`${apiUrl}/v1/runs/${encodeURIComponent(root)}/tree`, { headers });
    if (res.ok) tree = (await res.json()) as TreeNode;
  }
  await local?.close();
  if (tree === null || count(tree) < 6) throw new Error(`the tree of ${root} is not complete after a minute`);
  print(tree, '');
}

const count = (n: TreeNode): number => 1 + n.children.reduce((s, c) => s + count(c), 0);

function print(n: TreeNode, indent: string): void {
  console.log(
    `${indent}${n.agent_id} ${n.model}: own ${n.cost.amount} ${n.cost.currency}, with children ${n.rolled_up_cost.amount}`,
  );
  for (const c of n.children) print(c, `${indent}  `);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
