import { wrapAnthropic } from './anthropic';
import { BufferedTransport } from './buffered-transport';
import { RunScopes, type RunOptions, type RunScope } from './context';
import { GuardClient, type GuardOptions } from './guard';
import { HttpSink } from './http-sink';
import type { Instrumentation } from './instrument';
import { KafkaSink, type KafkaTransportOptions } from './kafka-sink';
import { wrapOpenAI } from './openai';
import type { Sink } from './sink';
import type { BurnrateStats, DeliveryFailure, SdkRun } from './types';

export interface BurnrateOptions {
  /** A burnrate API key (`br_…`), for ingestion and the guard. Default: BURNRATE_API_KEY. */
  apiKey?: string;
  /** Ingestion's base URL. Default: BURNRATE_INGEST_URL, else http://localhost:8081. */
  ingestUrl?: string;
  /** The api's base URL (the guard). Default: BURNRATE_API_URL, else http://localhost:8080. */
  apiUrl?: string;
  /** The agent of completions made outside any `client.run`. Without it, such a completion throws. */
  defaultAgentId?: string;
  /** Send straight onto Kafka instead of over HTTP (producers inside the platform). */
  kafka?: KafkaTransportOptions;
  /** The guard check before each completion; `false` turns it off. Default: on, fail-open. */
  guard?: GuardOptions | false;
  /** Default 1000 ms. */
  flushIntervalMs?: number;
  /** Default 500 runs (ingestion takes at most 1000 per request). */
  maxBatch?: number;
  /** Default 10,000 runs; beyond it the oldest are dropped and counted in `stats().dropped`. */
  maxBuffer?: number;
  /** Retries of a batch after a 429, a 5xx or a network error before it is given up. Default 8. */
  maxRetries?: number;
  /** First back-off between retries (doubling), and its cap. Defaults 250 ms and 30 s. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** One request to ingestion. Default 10 s. */
  requestTimeoutMs?: number;
  /** The longest `shutdown()` (and the exit hook) waits for buffered runs. Default 10 s. */
  shutdownTimeoutMs?: number;
  /** Runs that will never be recorded (refused by ingestion, or given up), with why. Default: a console warning. */
  onError?: (failure: DeliveryFailure) => void;
}

export interface Burnrate {
  /**
   * Runs `fn` as one agent run: completions of wrapped clients and nested runs inside it (across awaits and concurrent
   * branches) are its children. When `fn` settles, the run itself is recorded (model `agent`, no tokens), with status
   * success, or error when `fn` throws (the error is rethrown).
   */
  run<T>(options: RunOptions, fn: () => T | Promise<T>): Promise<T>;
  /** The run `fn` is in right now, if any. */
  currentRun(): RunScope | undefined;
  /** An OpenAI client whose `chat.completions.create` and `responses.create` record one run per completion. */
  wrapOpenAI<T extends object>(client: T): T;
  /** An Anthropic client whose `messages.create` (and `messages.stream`) record one run per message. */
  wrapAnthropic<T extends object>(client: T): T;
  /** Sends every buffered run now. */
  flush(): Promise<void>;
  /** Flushes (at most `shutdownTimeoutMs`), stops the timers and the exit hook; runs recorded later are refused. */
  shutdown(): Promise<void>;
  stats(): BurnrateStats;
}

const defaultOnError = (failure: DeliveryFailure): void => {
  console.warn(
    `burnrate: ${failure.runs.length} run(s) not recorded (${failure.reason}): ${failure.message}`,
  );
};

/** The burnrate client: one per process is enough. */
export function createBurnrate(options: BurnrateOptions = {}): Burnrate {
  const apiKey = options.apiKey ?? process.env.BURNRATE_API_KEY;
  const ingestUrl = options.ingestUrl ?? process.env.BURNRATE_INGEST_URL ?? 'http://localhost:8081';
  const apiUrl = options.apiUrl ?? process.env.BURNRATE_API_URL ?? 'http://localhost:8080';
  const guardOptions = options.guard ?? {};
  if (!options.kafka && !apiKey) {
    throw new TypeError('burnrate: an apiKey is needed (or BURNRATE_API_KEY), or the kafka transport');
  }
  if (guardOptions !== false && !apiKey) {
    throw new TypeError('burnrate: the guard needs an apiKey (or BURNRATE_API_KEY); or pass guard: false');
  }
  const sink: Sink = options.kafka
    ? new KafkaSink(options.kafka)
    : new HttpSink(ingestUrl, apiKey!, options.requestTimeoutMs ?? 10_000);
  const transport = new BufferedTransport(sink, {
    flushIntervalMs: options.flushIntervalMs ?? 1000,
    maxBatch: options.maxBatch ?? 500,
    maxBuffer: options.maxBuffer ?? 10_000,
    maxRetries: options.maxRetries ?? 8,
    initialBackoffMs: options.initialBackoffMs ?? 250,
    maxBackoffMs: options.maxBackoffMs ?? 30_000,
    onError: options.onError ?? defaultOnError,
  });
  const guard = guardOptions === false ? null : new GuardClient(apiUrl, apiKey!, guardOptions);
  const scopes = new RunScopes();
  const defaultAgentId = options.defaultAgentId ?? null;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;

  const instrumentation: Instrumentation = {
    completionScope() {
      const scope = scopes.current();
      if (scope) return { ...scope, parent_run_id: scope.run_id };
      if (!defaultAgentId) {
        throw new TypeError(
          'burnrate: a completion outside client.run needs an agent: wrap it in client.run({ agent_id }, …) or set defaultAgentId',
        );
      }
      return {
        agent_id: defaultAgentId,
        parent_run_id: null,
        session_id: null,
        customer_id: null,
        feature: null,
        cost_centre: null,
        tool: null,
        tags: {},
      };
    },
    guard: (scope) =>
      guard
        ? guard.check({ agentId: scope.agent_id, customerId: scope.customer_id, tool: scope.tool })
        : Promise.resolve(),
    record: (run) => transport.add(run),
  };

  // Flush what is left when the event loop empties; the timers themselves never hold the process open.
  let exiting = false;
  const beforeExit = () => {
    if (exiting || transport.stats().buffered === 0) return;
    exiting = true;
    void transport.flush().finally(() => (exiting = false));
  };
  process.on('beforeExit', beforeExit);

  return {
    async run<T>(runOptions: RunOptions, fn: () => T | Promise<T>): Promise<T> {
      const scope = scopes.open(runOptions, defaultAgentId);
      const started = Date.now();
      const end = (status: SdkRun['status']) => transport.add(agentRun(scope, started, status));
      let value: T;
      try {
        value = await scopes.run(scope, fn);
      } catch (err) {
        end('error');
        throw err;
      }
      end('success');
      return value;
    },
    currentRun: () => scopes.current(),
    wrapOpenAI: (client) => wrapOpenAI(client, instrumentation),
    wrapAnthropic: (client) => wrapAnthropic(client, instrumentation),
    flush: () => transport.flush(),
    async shutdown() {
      process.off('beforeExit', beforeExit);
      await transport.shutdown(shutdownTimeoutMs);
    },
    stats: () => ({ ...transport.stats(), guardFailures: guard?.failures ?? 0 }),
  };
}

/**
 * A `client.run` as a run of its own, so the call tree has its root: model `agent` from provider `burnrate`, and no
 * tokens (its completions are runs of their own; counting them here too would count them twice). Priced at 0.
 */
function agentRun(scope: RunScope, started: number, status: SdkRun['status']): SdkRun {
  return {
    run_id: scope.run_id,
    agent_id: scope.agent_id,
    model: 'agent',
    provider: 'burnrate',
    input_tokens: 0,
    output_tokens: 0,
    cache_read_tokens: null,
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
    started_at: started,
    finished_at: Math.max(started, Date.now()),
    status,
    customer_id: scope.customer_id,
    feature: scope.feature,
    cost_centre: scope.cost_centre,
    session_id: scope.session_id,
    tool: scope.tool,
    parent_run_id: scope.parent_run_id,
    tags: { ...scope.tags },
    source: 'sdk',
  };
}
