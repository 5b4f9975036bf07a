import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** What `client.run` takes: the agent and its attribution, each inherited from the enclosing run when absent. */
export interface RunOptions {
  /** The agent; a nested run that names its own is a sub-agent. Required outside any run (or `defaultAgentId`). */
  agent_id?: string;
  customer_id?: string;
  feature?: string;
  cost_centre?: string;
  /** Default: the enclosing run's session, and for the outermost run its own run_id. */
  session_id?: string;
  tool?: string;
  /** Merged over the enclosing run's tags. */
  tags?: Record<string, string>;
  /** Default: a new UUID. */
  run_id?: string;
}

/** The run a piece of code executes in: every run recorded inside it is its child. */
export interface RunScope {
  readonly run_id: string;
  readonly parent_run_id: string | null;
  readonly agent_id: string;
  readonly customer_id: string | null;
  readonly feature: string | null;
  readonly cost_centre: string | null;
  readonly session_id: string;
  readonly tool: string | null;
  readonly tags: Readonly<Record<string, string>>;
}

/** The run scopes of one client, carried across awaits by AsyncLocalStorage. */
export class RunScopes {
  private readonly storage = new AsyncLocalStorage<RunScope>();

  current(): RunScope | undefined {
    return this.storage.getStore();
  }

  /** The scope `options` opens inside the current one (or at the top, with `defaultAgentId` as its agent). */
  open(options: RunOptions, defaultAgentId: string | null): RunScope {
    const parent = this.current();
    const run_id = options.run_id ?? randomUUID();
    const agent_id = options.agent_id ?? parent?.agent_id ?? defaultAgentId;
    if (!agent_id) {
      throw new TypeError('burnrate: client.run needs an agent_id (or set defaultAgentId in createBurnrate)');
    }
    return {
      run_id,
      parent_run_id: parent?.run_id ?? null,
      agent_id,
      customer_id: options.customer_id ?? parent?.customer_id ?? null,
      feature: options.feature ?? parent?.feature ?? null,
      cost_centre: options.cost_centre ?? parent?.cost_centre ?? null,
      session_id: options.session_id ?? parent?.session_id ?? run_id,
      tool: options.tool ?? parent?.tool ?? null,
      tags: { ...parent?.tags, ...options.tags },
    };
  }

  run<T>(scope: RunScope, fn: () => T): T {
    return this.storage.run(scope, fn);
  }
}
