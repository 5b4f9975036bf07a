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

const PROVIDER_BY_MODEL: [RegExp, string][] = [
  [
    /^(gpt-|o[1-9](-|$)|chatgpt|text-embedding|davinci|babbage|whisper|tts-|dall-e|omni-moderation|codex)/,
    'openai',
  ],
  [/^claude/, 'anthropic'],
  [/^(gemini|gemma|imagen|veo)/, 'google'],
  [/^(mistral|mixtral|codestral|ministral|pixtral|magistral|devstral|open-mistral)/, 'mistral'],
  [/^deepseek/, 'deepseek'],
  [/^grok/, 'x-ai'],
  [/^command/, 'cohere'],
];

const PROVIDER_ALIASES: Record<string, string> = {
  'azure-openai': 'azure',
  azure_openai: 'azure',
  bedrock: 'aws',
  'aws-bedrock': 'aws',
  vertex: 'google',
  'vertex-ai': 'google',
  'google-vertex': 'google',
  gemini: 'google',
  xai: 'x-ai',
  grok: 'x-ai',
};

/**
 * The provider and the model name to match, from what the run says: "openai/gpt-4o" and "openai:gpt-4o" carry their
 * provider; Bedrock ids lose their region and vendor prefixes and version suffix ("us.anthropic.claude-3-5-sonnet-
 * 20240620-v1:0" is claude-3-5-sonnet-20240620); a missing provider is inferred from the model.
 */
export function resolveProviderAndModel(
  model: string,
  provider: string | null,
): { provider: string; model: string } {
  let name = model.trim().toLowerCase();
  let given = provider ? (PROVIDER_ALIASES[provider.toLowerCase()] ?? provider.toLowerCase()) : null;
  const prefixed = /^([a-z0-9-]+)[/:](.+)$/.exec(name);
  if (prefixed && !/^\d/.test(prefixed[2])) {
    given ??= PROVIDER_ALIASES[prefixed[1]] ?? prefixed[1];
    name = prefixed[2];
  }
  const bedrock =
    /^(?:(?:us|eu|apac|global)\.)?(anthropic|meta|amazon|mistral|cohere|ai21)\.(.+?)(?:-v\d+(?::\d+)?)?$/.exec(
      name,
    );
  if (bedrock) {
    given ??= 'aws';
    name = bedrock[2];
  }
  if (!given) given = PROVIDER_BY_MODEL.find(([re]) => re.test(name))?.[1] ?? 'unknown';
  return { provider: given, model: name };
}

/** Anthropic counts cache reads and writes outside input_tokens, wherever Claude runs; everyone else inside. */
export function tokenSemantics(provider: string, model: string): TokenSemantics {
  return provider === 'anthropic' || /^claude/.test(model) ? 'cached-outside-input' : 'cached-inside-input';
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
