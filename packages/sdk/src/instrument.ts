import { randomUUID } from 'node:crypto';
import type { RunStatus, SdkRun } from './types';

/** Token counts exactly as the provider reported them, and the model it says answered. */
export interface Usage {
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number | null;
  cache_write_tokens: number | null;
  cache_write_1h_tokens: number | null;
}

export const NO_USAGE: Usage = {
  model: null,
  input_tokens: 0,
  output_tokens: 0,
  cache_read_tokens: null,
  cache_write_tokens: null,
  cache_write_1h_tokens: null,
};

/** Whose a completion is: its agent and attribution, and the run it was made in (none outside `client.run`). */
export interface CompletionScope {
  agent_id: string;
  parent_run_id: string | null;
  session_id: string | null;
  customer_id: string | null;
  feature: string | null;
  cost_centre: string | null;
  tool: string | null;
  tags: Readonly<Record<string, string>>;
}

/** What the provider wrappers need of the client. */
export interface Instrumentation {
  /** Whose a completion made now is; throws when there is no agent to charge it to. */
  completionScope(): CompletionScope;
  /** Resolves when the guard allows the scope's agent; rejects with AgentBlockedError when it does not. */
  guard(scope: CompletionScope): Promise<void>;
  record(run: SdkRun): void;
}

/** The official clients' APIPromise, as far as the wrappers use it. */
/** A provider's JSON, as the wrappers read it: nothing about it is trusted to have the documented shape. */
export type Json = Record<string, unknown>;
export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null;
/** A token count the provider reported, or null when it reported none (or not a number). */
export const optionalCount = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;

export interface ApiPromiseLike<T> extends PromiseLike<T> {
  withResponse(): Promise<{ data: T; response: unknown; request_id?: string | null }>;
}

type WithResponse<T> = Awaited<ReturnType<ApiPromiseLike<T>['withResponse']>>;

/** Ends a completion's run once: with its status and what the provider reported. */
export type Finish = (status: RunStatus, usage: Usage) => void;

/**
 * One instrumented provider call: the guard is asked first, then the call is made and its result handed to `handle`,
 * which records the run (at once, or when a stream ends) and returns what the caller receives. An API error records
 * an error run with no tokens and is rethrown. The returned promise also answers `withResponse()`, as the official
 * clients' APIPromise does (Anthropic's `messages.stream()` relies on it).
 */
export function instrumentCall<T>(
  instrumentation: Instrumentation,
  provider: string,
  requestedModel: unknown,
  invoke: () => ApiPromiseLike<T>,
  handle: (data: T, finish: Finish) => T,
): Promise<T> & { withResponse(): Promise<WithResponse<T>>; asResponse(): Promise<never> } {
  const scope = instrumentation.completionScope();
  let started = Date.now();
  let finished = false;
  const finish: Finish = (status, usage) => {
    if (finished) return;
    finished = true;
    instrumentation.record({
      run_id: randomUUID(),
      agent_id: scope.agent_id,
      model: usage.model ?? (typeof requestedModel === 'string' ? requestedModel : 'unknown'),
      provider,
      input_tokens: usage.input_tokens,
      output_tokens: usage.output_tokens,
      cache_read_tokens: usage.cache_read_tokens,
      cache_write_tokens: usage.cache_write_tokens,
      cache_write_1h_tokens: usage.cache_write_1h_tokens,
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
    });
  };
  // Boxed: a promise resolving to the APIPromise itself would adopt (and so parse) it.
  const call = instrumentation.guard(scope).then(() => {
    started = Date.now(); // the call's own time, not the guard's
    return { api: invoke() };
  });
  const observed = call.then(({ api }) =>
    api.withResponse().then(
      (r) => ({ ...r, data: handle(r.data, finish) }),
      (err: unknown) => {
        finish('error', NO_USAGE);
        throw err;
      },
    ),
  );
  const result = observed.then((r) => r.data);
  // A caller that only uses withResponse() must not leave this one rejected and unhandled.
  result.catch(() => undefined);
  return Object.assign(result, {
    withResponse: () => observed,
    asResponse: () =>
      Promise.reject(
        new Error(
          'burnrate: asResponse() is not available on a wrapped client (the SDK reads the body); use withResponse()',
        ),
      ),
  });
}

/** The official clients' Stream: async-iterable, with the AbortController of its request. */
export interface StreamLike<C> extends AsyncIterable<C> {
  controller: AbortController;
}

/**
 * A stream of the same class yielding the same items (less those `onItem` says to hold back), that ends the run when
 * it ends: success when read to the end, error when it fails, cancelled when the caller stops reading early.
 */
export function observeStream<C, S extends StreamLike<C>>(
  stream: S,
  onItem: (item: C) => boolean,
  onEnd: (status: RunStatus) => void,
): S {
  async function* iterate(): AsyncGenerator<C> {
    let status: RunStatus = 'cancelled';
    try {
      for await (const item of stream) if (onItem(item)) yield item;
      status = 'success';
    } catch (err) {
      status = 'error';
      throw err;
    } finally {
      onEnd(status);
    }
  }
  const Stream = stream.constructor as new (
    iterator: () => AsyncIterator<C>,
    controller: AbortController,
  ) => S;
  return new Stream(iterate, stream.controller);
}
