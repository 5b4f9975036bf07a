import { useState } from 'preact/hooks';
import { api, ApiError, type Whoami } from '../api';

/** The key is typed once and kept in this tab's sessionStorage; it is sent only in the Authorization header. */
export function LoginPage({ onLogin }: { onLogin: (key: string, me: Whoami) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) return setError('Enter an API key.');
    setBusy(true);
    setError(null);
    try {
      onLogin(trimmed, await api<Whoami>('/v1/whoami', undefined, { key: trimmed }));
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'This key is not known, or it has been revoked.'
          : `Could not check the key: ${(err as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <h1>burnrate</h1>
      <p>Which agent is burning the budget — log in with a burnrate API key.</p>
      <form onSubmit={submit} method="post" action="#">
        <label for="key">API key</label>
        <input
          id="key"
          name="key"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          aria-describedby={error ? 'key-error' : 'key-help'}
          aria-invalid={error ? true : undefined}
          required
        />
        <p id="key-help" class="help">
          A team key shows its team; an admin key every team. The key stays in this tab only (sessionStorage)
          and is never put in a URL. Locally, <code>npm run up</code> writes an admin key to{' '}
          <code>.burnrate/admin-key</code>.
        </p>
        {error && (
          <p id="key-error" class="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
