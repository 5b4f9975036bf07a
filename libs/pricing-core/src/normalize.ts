import type { FieldError, RunEvent } from '@libs/contracts';

/** How a provider counts prompt tokens: whether cached tokens are inside input_tokens or beside it. */
export type TokenSemantics = 'cached-inside-input' | 'cached-outside-input';

export interface NormalisedTokens {
  uncachedInput: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  output: number;
  /** The whole prompt, for long-context tiers. */
  prompt: number;
}

export type NormaliseResult = { ok: true; tokens: NormalisedTokens } | { ok: false; errors: FieldError[] };

/** Splits the reported counts into disjoint billable parts, without ever counting a cached token twice. */
export function normaliseTokens(run: RunEvent, semantics: TokenSemantics): NormaliseResult {
  const cacheRead = run.cache_read_tokens ?? 0;
  const cacheWrite = run.cache_write_tokens ?? 0;
  const cacheWrite1h = Math.min(run.cache_write_1h_tokens ?? 0, cacheWrite);
  let uncachedInput = run.input_tokens;
  if (semantics === 'cached-inside-input') {
    uncachedInput = run.input_tokens - cacheRead - cacheWrite;
    if (uncachedInput < 0) {
      return {
        ok: false,
        errors: [
          {
            field: 'cache_read_tokens',
            message:
              `cache tokens (${cacheRead + cacheWrite}) exceed input_tokens (${run.input_tokens}); for this provider ` +
              'input_tokens includes cached tokens (report prompt_tokens as the provider returns it)',
          },
        ],
      };
    }
  }
  return {
    ok: true,
    tokens: {
      uncachedInput,
      cacheRead,
      cacheWrite5m: cacheWrite - cacheWrite1h,
      cacheWrite1h,
      output: run.output_tokens,
      prompt: uncachedInput + cacheRead + cacheWrite,
    },
  };
}
