import {
  calcPrice,
  findProvider,
  updatePrices,
  waitForUpdate,
  type ModelInfo,
  type Provider,
} from '@pydantic/genai-prices';
import type { TokenSemantics } from './normalize';

/**
 * The one model matcher: @pydantic/genai-prices' own. Provider lookup (ids, aliases through `provider_match`, API
 * conventions such as LiteLLM's `provider/model`), model matching (Bedrock regional prefixes, dated and undated names,
 * fine-tuned ids, fallbacks from Azure or Vertex to the model's maker) are the library's functions on the library's
 * data, so burnrate prices a name exactly when, and as, the dataset does. burnrate adds only what the library leaves to
 * its caller: which provider's usage convention a run's token counts follow, and the price history by `finished_at`.
 */
export type DatasetMatch =
  | {
      ok: true;
      /** The provider the run was served by, as the library names it (`azure`, `aws`, `openai`, …). */
      provider: string;
      /** The provider whose price list holds the model: `openai` for a GPT model served by Azure. */
      owner: string;
      /** The dataset's model id (`claude-sonnet-4-5`), the key of the rate card's rows. */
      modelId: string;
      /** The name that was matched, lower-cased, after a LiteLLM-style `provider/` prefix was taken off. */
      name: string;
      semantics: TokenSemantics;
    }
  | {
      ok: false;
      /** The provider as far as it is known: the library's id, the run's own word, or `unknown`. */
      provider: string;
      name: string;
      reason: UnpricedReason;
    };

export type UnpricedReason = 'unknown_provider' | 'unknown_model';

const NO_USAGE = {};

/**
 * Lookups remembered per (provider, model): a fleet uses a handful of models, and a lookup scans the dataset (~36 µs).
 * Names the dataset does not know are remembered apart, so a tenant sending endless made-up names only ever clears
 * that cache, never the one every other team's runs are priced from.
 */
const CACHE_MAX = 10_000;
const known = new Map<string, DatasetMatch>();
const unknown = new Map<string, DatasetMatch>();

/** The dataset's own lookup of a run's (model, provider). A missing provider is inferred as the library infers it. */
export function matchDataset(model: string, provider: string | null): DatasetMatch {
  const key = `${provider ?? ''}\u0000${model}`;
  let found = known.get(key) ?? unknown.get(key);
  if (!found) {
    found = lookUp(model, provider);
    const cache = found.ok ? known : unknown;
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, found);
  }
  return found;
}

/**
 * The library's lookup, never throwing: a run is priced inside a batch, and a name the library chokes on must make
 * that run unpriced, not fail the batch (and hold the partition) for every team on it.
 */
function lookUp(model: string, provider: string | null): DatasetMatch {
  try {
    return libraryLookUp(model, provider);
  } catch {
    return {
      ok: false,
      provider: provider?.trim().toLowerCase() || 'unknown',
      name: model.trim().toLowerCase(),
      reason: 'unknown_model',
    };
  }
}

function libraryLookUp(model: string, provider: string | null): DatasetMatch {
  const given = provider?.trim() ? provider.trim() : null;
  let name = model.trim().toLowerCase();
  // Without a provider the run is read as LiteLLM names models: "openai/gpt-4o" is OpenAI's gpt-4o when the prefix is a
  // provider the dataset knows, and otherwise the whole name is matched (OpenRouter-style "qwen/qwen3-32b").
  const providerId = given ?? 'litellm';
  if (!given) {
    const slash = name.indexOf('/');
    if (slash > 0 && findProvider({ providerId: name.slice(0, slash) })) name = name.slice(slash + 1);
  }
  let priced: ReturnType<typeof calcPrice> = null;
  try {
    priced = calcPrice(NO_USAGE, model, { providerId });
  } catch {
    priced = null;
  }
  if (!priced) {
    const known = given ? findProvider({ providerId: given }) : findProvider({ modelId: name });
    return {
      ok: false,
      provider: known?.id ?? given?.toLowerCase() ?? 'unknown',
      name,
      reason: known ? 'unknown_model' : 'unknown_provider',
    };
  }
  const owner = ownerOf(priced.provider, priced.model) ?? priced.provider;
  return {
    ok: true,
    provider: priced.provider.id,
    owner: owner.id,
    modelId: priced.model.id,
    name,
    semantics: semanticsOf(priced.provider, owner, priced.model.id),
  };
}

/** The provider whose own list holds `model`: the one matched, or one of its fallbacks (Azure → OpenAI). */
function ownerOf(provider: Provider, model: ModelInfo, seen = new Set<string>()): Provider | null {
  if (provider.models.includes(model)) return provider;
  seen.add(provider.id);
  for (const id of provider.fallback_model_providers ?? []) {
    if (seen.has(id)) continue;
    const fallback = findProvider({ providerId: id });
    const found = fallback ? ownerOf(fallback, model, seen) : null;
    if (found) return found;
  }
  return null;
}

/**
 * Whether the API a run came through reports cached tokens inside its input count or beside it, read off the
 * library's usage extractor for that API: Anthropic's (and Bedrock's Converse) add `cache_read_input_tokens` and
 * `cache_creation_input_tokens` to `input_tokens` to make the prompt, so those APIs report cached tokens beside the
 * input count; OpenAI's `prompt_tokens` and Gemini's `promptTokenCount` already hold them. A Claude model served by a
 * provider with an Anthropic-flavoured API (Vertex, Azure Foundry) is read with that flavour; otherwise the
 * provider's own API, or, when it has none in the dataset, the model's maker's.
 */
export function semanticsOf(served: Provider, owner: Provider, modelId: string): TokenSemantics {
  const flavoured = (p: Provider) => {
    const extractors = p.extractors ?? [];
    if (/claude/.test(modelId)) {
      const anthropic = extractors.find((e) => e.api_flavor === 'anthropic');
      if (anthropic) return anthropic;
    }
    return extractors.find((e) => e.api_flavor === 'default') ?? extractors[0];
  };
  const api = flavoured(served) ?? flavoured(owner);
  if (!api) return /claude/.test(modelId) ? 'cached-outside-input' : 'cached-inside-input';
  const paths = api.mappings.filter((m) => m.dest === 'input_tokens').map((m) => JSON.stringify(m.path));
  return paths.length > 1 && paths.some((p) => /cache/i.test(p))
    ? 'cached-outside-input'
    : 'cached-inside-input';
}

/** Every provider of the dataset in use: the bundled one, or the one `useDataset` installed. */
export async function datasetProviders(): Promise<Provider[]> {
  return (await waitForUpdate()) ?? [];
}

/**
 * Makes `providers` the dataset the library (and so every match) uses, as a refreshed card stored in PostgreSQL is.
 * Synchronous: the next match already sees it.
 */
export function useDataset(providers: Provider[]): void {
  updatePrices(({ setProviderData }) => setProviderData(providers));
  known.clear();
  unknown.clear();
}
