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

/**
 * Anthropic usage into `into`: input_tokens excludes the cache, cache_read_input_tokens and
 * cache_creation_input_tokens are beside it, cache_creation.ephemeral_1h_input_tokens is the 1-hour part of the
 * writes. Fields absent (or null) leave what `into` had: a stream's message_delta carries only what changed.
 */
export function anthropicUsage(usage: unknown, into: Usage = { ...NO_USAGE }): Usage {
  if (!isObject(usage)) return into;
  const out = { ...into };
  out.input_tokens = optionalCount(usage.input_tokens) ?? out.input_tokens;
  out.output_tokens = optionalCount(usage.output_tokens) ?? out.output_tokens;
  out.cache_read_tokens = optionalCount(usage.cache_read_input_tokens) ?? out.cache_read_tokens;
  out.cache_write_tokens = optionalCount(usage.cache_creation_input_tokens) ?? out.cache_write_tokens;
  if (isObject(usage.cache_creation)) {
    const oneHour = optionalCount(usage.cache_creation.ephemeral_1h_input_tokens);
    if (oneHour !== null) {
      out.cache_write_1h_tokens = oneHour;
      // The 1-hour writes are part of the writes: a total is needed beside them.
      out.cache_write_tokens ??=
        oneHour + (optionalCount(usage.cache_creation.ephemeral_5m_input_tokens) ?? 0);
    }
  }
  return out;
}

function messagesCreate(instrumentation: Instrumentation, original: Create): Create {
  return (params, options) =>
    instrumentCall(
      instrumentation,
      'anthropic',
      params?.model,
      () => original(params, options),
      (data, finish) => {
        if (params?.stream !== true) {
          const d = data as Json;
          finish('success', {
            ...anthropicUsage(d.usage),
            model: typeof d.model === 'string' ? d.model : null,
          });
          return data;
        }
        let usage: Usage = { ...NO_USAGE };
        return observeStream<Json, StreamLike<Json>>(
          data as StreamLike<Json>,
          (event) => {
            if (event.type === 'message_start' && isObject(event.message)) {
              usage = anthropicUsage(event.message.usage, usage);
              if (typeof event.message.model === 'string') usage.model = event.message.model;
            } else if (event.type === 'message_delta') {
              usage = anthropicUsage(event.usage, usage);
            }
            return true;
          },
          (status) => finish(status, usage),
        ) as unknown;
      },
    );
}

/**
 * The Anthropic client with `messages.create` recording one run per message, streams included; `messages.stream()`
 * goes through it too (it calls `this.create`).
 */
export function wrapAnthropic<T extends object>(client: T, instrumentation: Instrumentation): T {
  return proxyMethods(client, {
    messages: { create: (original) => messagesCreate(instrumentation, original as Create) },
  });
}
