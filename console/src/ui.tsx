import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
}

/**
 * The answer of `load`, reloaded when `deps` change (what was shown goes, so nothing is shown under the wrong
 * heading); an answer that arrives after a newer request is dropped. `reload()` asks again after a change made on
 * the page, keeping what is shown (and the forms under it) until the new answer replaces it.
 */
export function useData<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> & { reload: () => void } {
  const [state, setState] = useState<Loaded<T>>({ data: undefined, error: undefined, loading: true });
  const [asked, setAsked] = useState(0);
  const keep = useRef(false);
  useEffect(() => {
    let current = true;
    if (keep.current) setState((s) => ({ ...s, loading: true }));
    else setState({ data: undefined, error: undefined, loading: true });
    keep.current = false;
    load().then(
      (data) => current && setState({ data, error: undefined, loading: false }),
      (error: Error) => current && setState({ data: undefined, error, loading: false }),
    );
    return () => {
      current = false;
    };
  }, [...deps, asked]);
  const reload = () => {
    keep.current = true;
    setAsked((n) => n + 1);
  };
  return { ...state, reload };
}

/** A change the page asks of the api: busy while it runs, its error kept to show beside its form. */
export function useAction() {
  const [state, setState] = useState<{ busy: boolean; error: Error | undefined }>({
    busy: false,
    error: undefined,
  });
  /** Runs `change`; true when it succeeded. A second call while one runs is ignored. */
  const run = async (change: () => Promise<unknown>): Promise<boolean> => {
    if (state.busy) return false;
    setState({ busy: true, error: undefined });
    try {
      await change();
      setState({ busy: false, error: undefined });
      return true;
    } catch (error) {
      setState({ busy: false, error: error as Error });
      return false;
    }
  };
  return { ...state, run };
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** An error as the api said it: a refused key (403) is told apart from a failure. */
export function ErrorBox({ error }: { error: Error }) {
  const refused = error instanceof ApiError && error.status === 403;
  return (
    <div class={refused ? 'notice refused' : 'notice error'} role="alert">
      <strong>{refused ? 'Not allowed with this key' : 'Could not load'}</strong>
      <p>{error.message}</p>
    </div>
  );
}

/** Why a change was refused, beside its form: the api's message and each field it names. */
export function FormError({
  error,
  fieldName = (field) => field,
}: {
  error: Error | undefined;
  /** The field as the form calls it, when the api's path says it otherwise (`budgets[3].amount`). */
  fieldName?: (field: string) => string;
}) {
  if (!error) return null;
  const refused = error instanceof ApiError && error.status === 403;
  const problems = error instanceof ApiError ? error.problems : [];
  return (
    <div class={refused ? 'notice refused' : 'notice error'} role="alert">
      <strong>{refused ? 'Not allowed with this key' : 'Not saved'}</strong>
      {problems.length > 0 ? (
        <ul class="problems">
          {problems.map((p, i) => (
            <li key={i}>
              <code>{fieldName(p.field)}</code> {p.message}
            </li>
          ))}
        </ul>
      ) : (
        <p>{error.message}</p>
      )}
    </div>
  );
}

/** Shows `render(data)` once loaded, the loading line before, the error instead. */
export function Async<T>({
  state,
  what,
  children,
}: {
  state: Loaded<T>;
  what: string;
  children: (data: T) => ComponentChildren;
}) {
  if (state.error) return <ErrorBox error={state.error} />;
  if (state.data === undefined) return <Loading what={what} />;
  return <>{children(state.data)}</>;
}

/** A wide table scrolls inside its box on a narrow screen; the box takes focus so the keyboard can scroll it. */
export function TableBox({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-box" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}

const SEVERITY_MARK: Record<string, string> = { critical: '▲▲', error: '▲', warning: '◆', info: '●' };

/** Severity in words with a shape, never by colour alone. */
export function Severity({ level }: { level: string }) {
  return (
    <span class={`badge sev-${level}`}>
      <span aria-hidden="true">{SEVERITY_MARK[level] ?? '●'}</span> {level}
    </span>
  );
}

export function State({ state }: { state: string }) {
  const mark = state === 'resolved' ? '✓' : state === 'escalated' ? '↑' : '●';
  return (
    <span class={`badge state-${state}`}>
      <span aria-hidden="true">{mark}</span> {state}
    </span>
  );
}

export const DAY = 86_400_000;

export const RANGES: { value: string; label: string; days: number }[] = [
  { value: '1d', label: 'Last 24 hours', days: 1 },
  { value: '7d', label: 'Last 7 days', days: 7 },
  { value: '30d', label: 'Last 30 days', days: 30 },
  { value: '90d', label: 'Last 90 days', days: 90 },
];

/** [from, to) of a range picker's value: a preset, or `custom` with dates (to inclusive of its day). */
export function rangeOf(
  range: string,
  fromQ: string | null,
  toQ: string | null,
  now = Date.now(),
): [Date, Date] {
  if (range === 'custom' && fromQ && toQ) {
    const from = new Date(`${fromQ}T00:00:00Z`);
    const to = new Date(new Date(`${toQ}T00:00:00Z`).getTime() + DAY);
    if (!Number.isNaN(from.getTime()) && !Number.isNaN(to.getTime()) && from < to) return [from, to];
  }
  const days = RANGES.find((r) => r.value === range)?.days ?? 30;
  const to = Math.ceil((now + 1) / 3_600_000) * 3_600_000;
  return [new Date(to - days * DAY), new Date(to)];
}

export function Field({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
    </label>
  );
}
