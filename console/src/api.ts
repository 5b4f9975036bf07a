/** Calls to the api of the same origin with the key held in this browser tab's session (never in a URL). */

const KEY = 'burnrate.key';

export interface Money {
  amount: string;
  currency: string;
}

export interface Whoami {
  key_id: string;
  team: string;
  role: 'team' | 'admin';
  reporting_currencies: string[];
}

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  save: (key: string): void => sessionStorage.setItem(KEY, key),
  clear: (): void => sessionStorage.removeItem(KEY),
};

/** One bad field of a request body, as a 400 names it (`budgets[2].amount`, `destinations[0].to[0]`). */
export interface FieldProblem {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Every bad field of a 400 about a body; empty otherwise. */
    readonly problems: FieldProblem[] = [],
  ) {
    super(message);
  }
}

function problemsOf(details: unknown): FieldProblem[] {
  if (!Array.isArray(details)) return [];
  return details.filter(
    (d): d is FieldProblem =>
      typeof d === 'object' &&
      d !== null &&
      typeof (d as FieldProblem).field === 'string' &&
      typeof (d as FieldProblem).message === 'string',
  );
}

type Params = Record<string, string | number | null | undefined>;

/** `path?params` with the empty parameters left out. */
export function withQuery(path: string, params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Listeners told when the api refuses the key (401): the app returns to the login form. */
const unauthorised = new Set<() => void>();
export const onUnauthorised = (fn: () => void): (() => void) => {
  unauthorised.add(fn);
  return () => unauthorised.delete(fn);
};

export async function api<T>(
  path: string,
  params?: Params,
  init: { method?: string; body?: unknown; key?: string } = {},
): Promise<T> {
  const key = init.key ?? session.key();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(withQuery(path, params), {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
    if (res.status === 401 && init.key === undefined) for (const fn of unauthorised) fn();
    throw new ApiError(
      res.status,
      error?.code ?? 'http_error',
      error?.message ?? `the api answered ${res.status}`,
      problemsOf(error?.details),
    );
  }
  return body as T;
}

/** The items of a list answer, whether it is an array or a page (`{items, next_cursor}`, or a named list). */
export function itemsOf<T>(answer: unknown, name?: string): T[] {
  if (Array.isArray(answer)) return answer as T[];
  const page = answer as Record<string, unknown> | null;
  if (page && Array.isArray(page.items)) return page.items as T[];
  if (page && name && Array.isArray(page[name])) return page[name] as T[];
  return [];
}
