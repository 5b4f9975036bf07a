import {
  NO_USAGE,
  instrumentCall,
  isObject,
  observeStream,
  optionalCount,
  type ApiPromiseLike,
  type Instrumentation,
  type Json,
  type StreamLike,
  type Usage,
} from './instrument';
import { proxyMethods } from './proxy';

type Create = (params: Json, options?: unknown) => ApiPromiseLike<unknown>;

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Chat Completions usage: prompt_tokens includes the cached ones (prompt_tokens_details.cached_tokens). */
export function chatUsage(model: unknown, usage: unknown): Usage {
  if (!isObject(usage)) return { ...NO_USAGE, model: typeof model === 'string' ? model : null };
  const details = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : {};
  return {
    model: typeof model === 'string' ? model : null,
    input_tokens: count(usage.prompt_tokens),
    output_tokens: count(usage.completion_tokens),
    cache_read_tokens: optionalCount(details.cached_tokens),
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
  };
}

/** Responses API usage: input_tokens includes the cached ones (input_tokens_details.cached_tokens). */
export function responsesUsage(model: unknown, usage: unknown): Usage {
  if (!isObject(usage)) return { ...NO_USAGE, model: typeof model === 'string' ? model : null };
  const details = isObject(usage.input_tokens_details) ? usage.input_tokens_details : {};
  return {
    model: typeof model === 'string' ? model : null,
    input_tokens: count(usage.input_tokens),
    output_tokens: count(usage.output_tokens),
    cache_read_tokens: optionalCount(details.cached_tokens),
    cache_write_tokens: null,
    cache_write_1h_tokens: null,
  };
}

function chatCreate(instrumentation: Instrumentation, original: Create): Create {
  return (params, options) => {
    if (params?.stream !== true) {
      return instrumentCall(
        instrumentation,
        'openai',
        params?.model,
        () => original(params, options),
        (data, finish) => {
          const d = data as Json;
          finish('success', chatUsage(d.model, d.usage));
          return data;
        },
      );
    }
    // Usage comes only in a last chunk the caller must ask for; when we ask for it, that chunk is ours, not theirs.
    const streamOptions = isObject(params.stream_options) ? params.stream_options : {};
    const added = streamOptions.include_usage === undefined;
    const sent = added ? { ...params, stream_options: { ...streamOptions, include_usage: true } } : params;
    return instrumentCall(
      instrumentation,
      'openai',
      params.model,
      () => original(sent, options),
      (data, finish) => {
        let usage: Usage = { ...NO_USAGE };
        return observeStream<Json, StreamLike<Json>>(
          data as StreamLike<Json>,
          (chunk) => {
            if (typeof chunk.model === 'string') usage.model = chunk.model;
            if (isObject(chunk.usage)) usage = chatUsage(chunk.model ?? usage.model, chunk.usage);
            if (!added) return true;
            if ('usage' in chunk && chunk.usage === null) delete chunk.usage;
            return !(Array.isArray(chunk.choices) && chunk.choices.length === 0 && isObject(chunk.usage));
          },
          (status) => finish(status, usage),
        ) as unknown;
      },
    );
  };
}

const RESPONSE_ENDED = new Set(['response.completed', 'response.incomplete', 'response.failed']);

function responsesCreate(instrumentation: Instrumentation, original: Create): Create {
  return (params, options) =>
    instrumentCall(
      instrumentation,
      'openai',
      params?.model,
      () => original(params, options),
      (data, finish) => {
        if (params?.stream !== true) {
          const d = data as Json;
          finish(d.status === 'failed' ? 'error' : 'success', responsesUsage(d.model, d.usage));
          return data;
        }
        let usage: Usage = { ...NO_USAGE };
        let failed = false;
        return observeStream<Json, StreamLike<Json>>(
          data as StreamLike<Json>,
          (event) => {
            if (
              typeof event.type === 'string' &&
              RESPONSE_ENDED.has(event.type) &&
              isObject(event.response)
            ) {
              usage = responsesUsage(event.response.model, event.response.usage);
              failed = event.type === 'response.failed';
            }
            return true;
          },
          (status) => finish(failed ? 'error' : status, usage),
        ) as unknown;
      },
    );
}

/**
 * The OpenAI client with `chat.completions.create` and `responses.create` recording one run per completion
 * (streams included); everything else is the client's own.
 */
export function wrapOpenAI<T extends object>(client: T, instrumentation: Instrumentation): T {
  return proxyMethods(client, {
    chat: {
      completions: {
        create: (original) => chatCreate(instrumentation, original as Create),
      },
    },
    responses: {
      create: (original) => responsesCreate(instrumentation, original as Create),
    },
  });
}
