import { useEffect, useRef, useState } from 'preact/hooks';
import { api, itemsOf, type Money, type Whoami } from '../api';
import { formatMoney, formatTime } from '../format';
import { navigate } from '../router';
import { Async, Field, FormError, TableBox, useAction, useData } from '../ui';

interface TeamSettings {
  team: string;
  zscore_threshold: number;
  baseline_days: number;
  min_history_days: number;
  timezone: string;
  quality_threshold: number;
  late_after_minutes: number;
  budgets: Budget[];
  rules: Record<string, Record<string, number | boolean>>;
}
interface Budget {
  scope: 'team' | 'agent' | 'customer';
  agent_id?: string;
  customer_id?: string;
  period: 'day' | 'month';
  amount: Money;
  block_at_100?: boolean;
}
interface Route {
  id: string;
  team: string | null;
  match: Record<string, unknown>;
  destinations: Record<string, unknown>[];
}
interface Key {
  id: string;
  team: string;
  name: string;
  role: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}
interface NewKey {
  id: string;
  key: string;
  team: string;
  name: string;
  role: string;
}
interface Rate {
  id: string;
  source: 'genai-prices' | 'override';
  provider: string;
  model_id: string;
  effective_from: string;
  per_million_tokens: { input: Money; output: Money };
  multiplier: number | null;
}
interface Unpriced {
  team: string;
  provider: string | null;
  model: string;
  runs?: number;
  explanation?: string;
  last_seen?: string;
}

/**
 * Team settings, budgets, routes, keys, rate-card overrides and unpriced models; each editable, through the api, by
 * a key the api lets change it (the admin-only forms shown to admin keys only).
 */
export function SettingsPage({ query, me }: { query: URLSearchParams; me: Whoami }) {
  const team = me.role === 'admin' ? (query.get('team') ?? '') : me.team;
  const admin = me.role === 'admin';
  const settings = useData(
    () =>
      team ? api<TeamSettings>(`/v1/teams/${encodeURIComponent(team)}/settings`) : Promise.resolve(null),
    [team],
  );
  const scope = { team: team || null };
  const routes = useData(
    () => api<unknown>('/v1/routes', scope).then((a) => itemsOf<Route>(a, 'routes')),
    [team],
  );
  const keys = useData(
    () => api<unknown>('/v1/api-keys', scope).then((a) => itemsOf<Key>(a, 'keys')),
    [team],
  );
  const overrides = useData(
    () => api<{ rows: Rate[] }>('/v1/rate-card').then((a) => a.rows.filter((r) => r.source === 'override')),
    [],
  );
  const unpriced = useData(
    () => api<unknown>('/v1/models/unpriced', scope).then((a) => itemsOf<Unpriced>(a, 'models')),
    [team],
  );
  const removal = useRemoval();
  return (
    <section>
      <h1>Settings</h1>
      {admin ? (
        <form class="controls" onSubmit={(e) => e.preventDefault()} aria-label="Team">
          <Field label="Team">
            <input
              type="text"
              value={team}
              placeholder="a team's name"
              onChange={(e) => navigate(['settings'], { team: (e.target as HTMLInputElement).value.trim() })}
            />
          </Field>
        </form>
      ) : (
        <p>
          Settings of team <strong>{team}</strong>.
        </p>
      )}
      <h2>Detection</h2>
      <Async state={settings} what="the team's settings">
        {(s) =>
          s ? (
            <TeamSettingsView settings={s} onSaved={settings.reload} />
          ) : (
            <p>Name a team to see its settings.</p>
          )
        }
      </Async>
      <h2>Alert routes</h2>
      <Async state={routes} what="routes">
        {(list) =>
          list.length === 0 ? (
            <p>No routes: anomalies are recorded but page no one.</p>
          ) : (
            <TableBox label="Alert routes">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Team</th>
                    <th scope="col">Match</th>
                    <th scope="col">Destinations (secrets masked)</th>
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((r) => (
                    <tr key={r.id}>
                      <td>{r.team ?? 'every team (catch-all)'}</td>
                      <td>
                        <code>{JSON.stringify(r.match)}</code>
                      </td>
                      <td>
                        <ul class="plain">
                          {r.destinations.map((d, i) => (
                            <li key={i}>
                              {String(d.type)}{' '}
                              <code>{String(d.url ?? d.webhook_url ?? d.to ?? d.routing_key ?? '')}</code>
                              {d.disabled ? ' — disabled' : ''}
                            </li>
                          ))}
                        </ul>
                      </td>
                      <td>
                        {/* routes of ROUTES_FILE (file:<n>) are changed there; the catch-all is an admin's */}
                        {!r.id.startsWith('file:') && (admin || r.team === me.team) ? (
                          <button
                            type="button"
                            disabled={removal.busy}
                            aria-label={`Delete the route to ${describeDestinations(r)}`}
                            onClick={() =>
                              void removal.remove(r.id, 'route', routes.reload, () =>
                                api(`/v1/routes/${encodeURIComponent(r.id)}`, undefined, {
                                  method: 'DELETE',
                                }),
                              )
                            }
                          >
                            {removal.removing === r.id ? 'Deleting…' : 'Delete'}
                          </button>
                        ) : (
                          <span class="help">{r.id.startsWith('file:') ? 'from ROUTES_FILE' : ''}</span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableBox>
          )
        }
      </Async>
      {removal.what === 'route' && <FormError error={removal.error} />}
      <RouteForm team={team || null} onCreated={routes.reload} />
      <h2>API keys</h2>
      <Async state={keys} what="API keys">
        {(list) => (
          <TableBox label="API keys">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Team</th>
                  <th scope="col">Role</th>
                  <th scope="col">Prefix</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Revoked</th>
                </tr>
              </thead>
              <tbody>
                {list.map((k) => (
                  <tr key={k.id}>
                    <td>{k.name}</td>
                    <td>{k.team}</td>
                    <td>{k.role}</td>
                    <td>
                      <code>{k.prefix}</code>
                    </td>
                    <td>{formatTime(k.created_at)}</td>
                    <td>{k.last_used_at ? formatTime(k.last_used_at) : '—'}</td>
                    <td>
                      {k.revoked_at ? (
                        formatTime(k.revoked_at)
                      ) : k.id === me.key_id ? (
                        <span class="help">this key</span>
                      ) : admin || (k.team === me.team && k.role === 'team') ? (
                        <RevokeButton
                          apiKey={k}
                          busy={removal.busy}
                          onRevoke={() =>
                            removal.remove(k.id, 'key', keys.reload, () =>
                              api(`/v1/api-keys/${encodeURIComponent(k.id)}`, undefined, {
                                method: 'DELETE',
                              }),
                            )
                          }
                        />
                      ) : (
                        '—'
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </Async>
      {removal.what === 'key' && <FormError error={removal.error} />}
      {admin ? (
        <KeyForm key={team} team={team} onCreated={keys.reload} />
      ) : (
        <p class="help">New API keys are made with an admin key.</p>
      )}
      <h2>Rate-card overrides</h2>
      <Async state={overrides} what="the rate card">
        {(rows) =>
          rows.length === 0 ? (
            <p>No overrides: every model is priced from the price dataset.</p>
          ) : (
            <TableBox label="Rate-card overrides">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Override</th>
                    <th scope="col">Provider</th>
                    <th scope="col">Model</th>
                    <th scope="col">Since</th>
                    <th scope="col" class="num">
                      Input / 1M tokens
                    </th>
                    <th scope="col" class="num">
                      Output / 1M tokens
                    </th>
                    <th scope="col" class="num">
                      Multiplier
                    </th>
                    {admin && (
                      <th scope="col">
                        <span class="visually-hidden">Actions</span>
                      </th>
                    )}
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => {
                    const id = r.id.replace(/^override:/, '');
                    return (
                      <tr key={r.id}>
                        <td>
                          <code>{id}</code>
                        </td>
                        <td>{r.provider}</td>
                        <td>{r.model_id}</td>
                        <td>{formatTime(r.effective_from, false)}</td>
                        <td class="num">{formatMoney(r.per_million_tokens.input)}</td>
                        <td class="num">{formatMoney(r.per_million_tokens.output)}</td>
                        <td class="num">{r.multiplier ?? '—'}</td>
                        {admin && (
                          <td>
                            <button
                              type="button"
                              disabled={removal.busy}
                              aria-label={`Delete override ${id}`}
                              onClick={() =>
                                void removal.remove(r.id, 'override', overrides.reload, () =>
                                  api(`/v1/rate-card/overrides/${encodeURIComponent(id)}`, undefined, {
                                    method: 'DELETE',
                                  }),
                                )
                              }
                            >
                              {removal.removing === r.id ? 'Deleting…' : 'Delete'}
                            </button>
                          </td>
                        )}
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </TableBox>
          )
        }
      </Async>
      {removal.what === 'override' && <FormError error={removal.error} />}
      {admin && <OverrideForm onSaved={overrides.reload} />}
      <h2>Unpriced models</h2>
      <Async state={unpriced} what="unpriced models">
        {(list) =>
          list.length === 0 ? (
            <p>Every model seen has a price.</p>
          ) : (
            <ul>
              {list.map((m) => (
                <li key={`${m.team}/${m.provider}/${m.model}`}>
                  <code>{m.model}</code> ({m.provider ?? 'unknown provider'}, team {m.team}){' '}
                  {m.explanation && `— ${m.explanation}`}
                </li>
              ))}
            </ul>
          )
        }
      </Async>
    </section>
  );
}

/** One removal at a time from the page's lists: which row is going, and the error beside its list. */
function useRemoval() {
  const action = useAction();
  const [current, setCurrent] = useState<{ id: string | null; what: string | null }>({
    id: null,
    what: null,
  });
  const remove = async (id: string, what: string, reload: () => void, call: () => Promise<unknown>) => {
    setCurrent({ id, what });
    const done = await action.run(call);
    setCurrent({ id: null, what });
    if (done) reload();
    return done;
  };
  return { busy: action.busy, error: action.error, removing: current.id, what: current.what, remove };
}

/** Revoking is for good: it asks once more, in place, before it calls the api. */
function RevokeButton({
  apiKey,
  busy,
  onRevoke,
}: {
  apiKey: Key;
  busy: boolean;
  onRevoke: () => Promise<boolean>;
}) {
  const [step, setStep] = useState<'idle' | 'asking' | 'revoked'>('idle');
  const confirm = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (step === 'asking') confirm.current?.focus();
  }, [step]);
  // until the refreshed list shows the key revoked
  if (step === 'revoked') return <span role="status">revoked</span>;
  if (step === 'idle')
    return (
      <button
        type="button"
        disabled={busy}
        aria-label={`Revoke key ${apiKey.name}`}
        onClick={() => setStep('asking')}
      >
        Revoke
      </button>
    );
  return (
    <span class="confirm">
      <span>Revoke {apiKey.name} for good?</span>{' '}
      <button
        type="button"
        ref={confirm}
        disabled={busy}
        onClick={() => void onRevoke().then((done) => setStep(done ? 'revoked' : 'idle'))}
      >
        {busy ? 'Revoking…' : 'Yes, revoke'}
      </button>{' '}
      <button type="button" onClick={() => setStep('idle')}>
        Cancel
      </button>
    </span>
  );
}

const DESTINATION_TYPES = [
  { value: 'email', label: 'Email' },
  { value: 'slack', label: 'Slack' },
  { value: 'teams', label: 'Microsoft Teams' },
  { value: 'pagerduty', label: 'PagerDuty' },
  { value: 'webhook', label: 'Webhook (signed)' },
] as const;
type DestinationType = (typeof DESTINATION_TYPES)[number]['value'];
const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;

function describeDestinations(r: Route): string {
  return r.destinations
    .map((d) => `${String(d.type)} ${String(d.url ?? d.webhook_url ?? d.to ?? d.routing_key ?? '')}`)
    .join(', ');
}

const value = (e: Event): string => (e.target as HTMLInputElement | HTMLSelectElement).value;

/** A new route of the team (null: the catch-all, an admin's) with one destination; secrets are sent, never shown. */
function RouteForm({ team, onCreated }: { team: string | null; onCreated: () => void }) {
  const [agent, setAgent] = useState('');
  const [severities, setSeverities] = useState<string[]>([]);
  const [type, setType] = useState<DestinationType>('email');
  const [to, setTo] = useState('');
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState('');
  const [routingKey, setRoutingKey] = useState('');
  const [created, setCreated] = useState(false);
  const action = useAction();
  const destination = (): Record<string, unknown> => {
    switch (type) {
      case 'email':
        return { type, to: to.split(/[\s,;]+/).filter(Boolean) };
      case 'slack':
      case 'teams':
        return { type, webhook_url: url.trim() };
      case 'pagerduty':
        return { type, routing_key: routingKey.trim() };
      case 'webhook':
        return { type, url: url.trim(), secret: secret.trim() };
    }
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setCreated(false);
    const done = await action.run(() =>
      api('/v1/routes', undefined, {
        method: 'POST',
        body: {
          team,
          match: {
            ...(agent.trim() && { agent_id: agent.trim() }),
            ...(severities.length > 0 && { severity: severities }),
          },
          destinations: [destination()],
        },
      }),
    );
    if (!done) return;
    setAgent('');
    setSeverities([]);
    setTo('');
    setUrl('');
    setSecret('');
    setRoutingKey('');
    setCreated(true);
    onCreated();
  };
  return (
    <>
      <h3>New route {team ? `for team ${team}` : '(catch-all: every team)'}</h3>
      <form
        class="controls edit"
        onSubmit={(e) => void submit(e)}
        aria-label="New alert route"
        aria-busy={action.busy}
      >
        <Field label="Agent (glob, empty: every agent)">
          <input type="text" value={agent} placeholder="research-*" onInput={(e) => setAgent(value(e))} />
        </Field>
        <fieldset class="choices">
          <legend>Severities (none ticked: every one)</legend>
          {SEVERITIES.map((s) => (
            <label key={s} class="check">
              <input
                type="checkbox"
                checked={severities.includes(s)}
                onChange={(e) =>
                  setSeverities(
                    (e.target as HTMLInputElement).checked
                      ? [...severities, s]
                      : severities.filter((x) => x !== s),
                  )
                }
              />{' '}
              {s}
            </label>
          ))}
        </fieldset>
        <Field label="Destination">
          <select value={type} onChange={(e) => setType(value(e) as DestinationType)}>
            {DESTINATION_TYPES.map((d) => (
              <option key={d.value} value={d.value}>
                {d.label}
              </option>
            ))}
          </select>
        </Field>
        {type === 'email' && (
          <Field label="Email recipients (comma-separated)">
            <input
              type="text"
              inputMode="email"
              autoComplete="off"
              value={to}
              placeholder="oncall@example.com"
              onInput={(e) => setTo(value(e))}
            />
          </Field>
        )}
        {(type === 'slack' || type === 'teams' || type === 'webhook') && (
          <Field label="Webhook URL">
            <input
              type="text"
              inputMode="url"
              autoComplete="off"
              value={url}
              placeholder="https://…"
              onInput={(e) => setUrl(value(e))}
            />
          </Field>
        )}
        {type === 'webhook' && (
          <Field label="Signing secret">
            <input
              type="password"
              autoComplete="off"
              value={secret}
              placeholder="whsec_…"
              onInput={(e) => setSecret(value(e))}
            />
          </Field>
        )}
        {type === 'pagerduty' && (
          <Field label="Routing key">
            <input
              type="password"
              autoComplete="off"
              value={routingKey}
              onInput={(e) => setRoutingKey(value(e))}
            />
          </Field>
        )}
        <button type="submit" disabled={action.busy}>
          {action.busy ? 'Creating…' : 'Create route'}
        </button>
      </form>
      <FormError error={action.error} />
      {created && (
        <p role="status" class="saved">
          Route created: the next anomalies it matches page it.
        </p>
      )}
    </>
  );
}

/** A new API key (admin keys only); the key itself is in the answer only, so it is shown once, here. */
function KeyForm({ team, onCreated }: { team: string; onCreated: () => void }) {
  const [keyTeam, setKeyTeam] = useState(team);
  const [name, setName] = useState('');
  const [role, setRole] = useState<'team' | 'admin'>('team');
  const [created, setCreated] = useState<NewKey | null>(null);
  const [copied, setCopied] = useState(false);
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    setCreated(null);
    setCopied(false);
    const done = await action.run(async () =>
      setCreated(
        await api<NewKey>('/v1/api-keys', undefined, {
          method: 'POST',
          body: { team: keyTeam.trim(), name: name.trim(), role },
        }),
      ),
    );
    if (!done) return;
    setName('');
    onCreated();
  };
  const copy = async (input: HTMLInputElement | null) => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.key);
    } catch {
      // no clipboard (a page over plain http): select it for the user to copy
      input?.select();
      document.execCommand('copy');
    }
    setCopied(true);
  };
  return (
    <>
      <h3>New API key</h3>
      <form
        class="controls edit"
        onSubmit={(e) => void submit(e)}
        aria-label="New API key"
        aria-busy={action.busy}
      >
        <Field label="Key team">
          <input type="text" value={keyTeam} onInput={(e) => setKeyTeam(value(e))} />
        </Field>
        <Field label="Key name">
          <input type="text" value={name} placeholder="ci" onInput={(e) => setName(value(e))} />
        </Field>
        <Field label="Key role">
          <select value={role} onChange={(e) => setRole(value(e) as 'team' | 'admin')}>
            <option value="team">team: its own team</option>
            <option value="admin">admin: every team and the rate card</option>
          </select>
        </Field>
        <button type="submit" disabled={action.busy}>
          {action.busy ? 'Creating…' : 'Create key'}
        </button>
      </form>
      <FormError error={action.error} />
      {created && (
        <div class="notice new-key" role="status">
          <strong>
            Key {created.name} created for team {created.team} ({created.role}).
          </strong>
          <p>
            It is shown only now: burnrate keeps only its hash. Copy it and store it where it will be used.
          </p>
          <div class="controls">
            <label class="field">
              <span>The new key</span>
              <input
                type="text"
                readOnly
                value={created.key}
                id="new-api-key"
                onFocus={(e) => (e.target as HTMLInputElement).select()}
              />
            </label>
            <button
              type="button"
              onClick={() => void copy(document.getElementById('new-api-key') as HTMLInputElement | null)}
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
            <button type="button" onClick={() => setCreated(null)}>
              Done, hide it
            </button>
          </div>
        </div>
      )}
    </>
  );
}

/** Creates or replaces an operator override (admin keys only): rates for a model, or a multiplier of its dataset row. */
function OverrideForm({ onSaved }: { onSaved: () => void }) {
  const [id, setId] = useState('');
  const [provider, setProvider] = useState('');
  const [model, setModel] = useState('');
  const [input, setInput] = useState('');
  const [output, setOutput] = useState('');
  const [multiplier, setMultiplier] = useState('');
  const [currency, setCurrency] = useState('USD');
  const [saved, setSaved] = useState<string | null>(null);
  const action = useAction();
  const number = (s: string): number | null => (s.trim() === '' ? null : Number(s));
  const submit = async (e: Event) => {
    e.preventDefault();
    setSaved(null);
    const priced =
      multiplier.trim() !== ''
        ? { multiplier: number(multiplier) }
        : {
            ...(input.trim() !== '' && { input_per_mtok: number(input) }),
            ...(output.trim() !== '' && { output_per_mtok: number(output) }),
            currency: currency.trim().toUpperCase(),
          };
    const done = await action.run(() =>
      api(`/v1/rate-card/overrides/${encodeURIComponent(id.trim())}`, undefined, {
        method: 'PUT',
        body: {
          provider: provider.trim(),
          match: { equals: model.trim() },
          model_id: model.trim(),
          ...priced,
        },
      }),
    );
    if (!done) return;
    setSaved(id.trim());
    onSaved();
  };
  return (
    <>
      <h3>Add or replace an override</h3>
      <form
        class="controls edit"
        onSubmit={(e) => void submit(e)}
        aria-label="Rate-card override"
        aria-busy={action.busy}
      >
        <Field label="Override id">
          <input type="text" value={id} placeholder="azure-gpt-4o" onInput={(e) => setId(value(e))} />
        </Field>
        <Field label="Provider">
          <input type="text" value={provider} placeholder="azure" onInput={(e) => setProvider(value(e))} />
        </Field>
        <Field label="Model (exact name)">
          <input type="text" value={model} placeholder="my-gpt-4o" onInput={(e) => setModel(value(e))} />
        </Field>
        <Field label="Input per 1M tokens">
          <input type="text" inputMode="decimal" value={input} onInput={(e) => setInput(value(e))} />
        </Field>
        <Field label="Output per 1M tokens">
          <input type="text" inputMode="decimal" value={output} onInput={(e) => setOutput(value(e))} />
        </Field>
        <Field label="Rate currency">
          <input type="text" value={currency} maxLength={3} onInput={(e) => setCurrency(value(e))} />
        </Field>
        <Field label="Or a multiplier of the dataset price">
          <input
            type="text"
            inputMode="decimal"
            value={multiplier}
            placeholder="0.8"
            onInput={(e) => setMultiplier(value(e))}
          />
        </Field>
        <button type="submit" disabled={action.busy}>
          {action.busy ? 'Saving…' : 'Save override'}
        </button>
      </form>
      <FormError error={action.error} />
      {saved && (
        <p role="status" class="saved">
          Override {saved} saved: running pricing instances pick it up within seconds.
        </p>
      )}
    </>
  );
}

function TeamSettingsView({ settings, onSaved }: { settings: TeamSettings; onSaved: () => void }) {
  const [z, setZ] = useState(String(settings.zscore_threshold));
  const [baseline, setBaseline] = useState(String(settings.baseline_days));
  const [minHistory, setMinHistory] = useState(String(settings.min_history_days));
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const save = async (e: Event) => {
    e.preventDefault();
    setSaved(false);
    const done = await action.run(() =>
      api(`/v1/teams/${encodeURIComponent(settings.team)}/settings`, undefined, {
        method: 'PUT',
        body: {
          zscore_threshold: Number(z),
          baseline_days: Number(baseline),
          min_history_days: Number(minHistory),
        },
      }),
    );
    if (!done) return;
    setSaved(true);
    onSaved();
  };
  return (
    <>
      <dl class="facts">
        <div>
          <dt>Time zone</dt>
          <dd>{settings.timezone}</dd>
        </div>
        <div>
          <dt>Quality threshold</dt>
          <dd>{settings.quality_threshold}</dd>
        </div>
        <div>
          <dt>Late after</dt>
          <dd>{settings.late_after_minutes} min</dd>
        </div>
      </dl>
      <form
        class="controls edit"
        onSubmit={(e) => void save(e)}
        aria-label="Detection thresholds"
        aria-busy={action.busy}
      >
        <Field label="z threshold (σ)">
          <input
            type="number"
            step="0.1"
            min="0.5"
            max="10"
            value={z}
            onInput={(e) => setZ((e.target as HTMLInputElement).value)}
          />
        </Field>
        <Field label="Baseline days">
          <input
            type="number"
            min="3"
            max="14"
            value={baseline}
            onInput={(e) => setBaseline((e.target as HTMLInputElement).value)}
          />
        </Field>
        <Field label="Minimum history days">
          <input
            type="number"
            min="1"
            max="14"
            value={minHistory}
            onInput={(e) => setMinHistory((e.target as HTMLInputElement).value)}
          />
        </Field>
        <button type="submit" disabled={action.busy}>
          {action.busy ? 'Saving…' : 'Save thresholds'}
        </button>
      </form>
      <FormError error={action.error} />
      {saved && (
        <p role="status" class="saved">
          Saved: they apply to the next run the pipeline sees.
        </p>
      )}
      <h3>Budgets</h3>
      <BudgetsEditor team={settings.team} budgets={settings.budgets} onSaved={onSaved} />
      <h3>Rules</h3>
      <TableBox label="Rules in force">
        <table>
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Parameters</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(settings.rules ?? {}).map(([name, params]) => (
              <tr key={name}>
                <th scope="row">
                  <code>{name}</code>
                </th>
                <td>
                  {Object.entries(params)
                    .map(([k, v]) => `${k} ${String(v)}`)
                    .join(', ')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableBox>
    </>
  );
}

const PERIOD = { day: 'per day', month: 'per month' } as const;

function describeBudget(b: Budget): string {
  const subject = b.scope === 'agent' ? ` ${b.agent_id}` : b.scope === 'customer' ? ` ${b.customer_id}` : '';
  return `${b.scope}${subject}: ${formatMoney(b.amount)} ${PERIOD[b.period]}${b.block_at_100 ? ', blocks at 100%' : ''}`;
}

/** A budget as the settings body takes it back (the view's amount is a decimal string in its currency). */
function budgetBody(b: Budget): Record<string, unknown> {
  return {
    scope: b.scope,
    ...(b.scope === 'agent' && { agent_id: b.agent_id }),
    ...(b.scope === 'customer' && { customer_id: b.customer_id }),
    period: b.period,
    amount: Number(b.amount.amount),
    currency: b.amount.currency,
    block_at_100: b.block_at_100 === true,
  };
}

/** The team's budgets, each removable, and one to add: the whole list is saved, as the settings body replaces it. */
function BudgetsEditor({ team, budgets, onSaved }: { team: string; budgets: Budget[]; onSaved: () => void }) {
  const [scope, setScope] = useState<Budget['scope']>('team');
  const [subject, setSubject] = useState('');
  const [period, setPeriod] = useState<Budget['period']>('month');
  const [amount, setAmount] = useState('');
  const [currency, setCurrency] = useState(budgets[0]?.amount.currency ?? 'USD');
  const [block, setBlock] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [removing, setRemoving] = useState<number | null>(null);
  const action = useAction();
  const put = (list: Record<string, unknown>[]) =>
    api(`/v1/teams/${encodeURIComponent(team)}/settings`, undefined, {
      method: 'PUT',
      body: { budgets: list },
    });
  const add = async (e: Event) => {
    e.preventDefault();
    setSaved(null);
    const budget = {
      scope,
      ...(scope === 'agent' && { agent_id: subject.trim() }),
      ...(scope === 'customer' && { customer_id: subject.trim() }),
      period,
      amount: amount.trim() === '' ? null : Number(amount),
      currency: currency.trim().toUpperCase(),
      block_at_100: block,
    };
    if (!(await action.run(() => put([...budgets.map(budgetBody), budget])))) return;
    setAmount('');
    setSubject('');
    setBlock(false);
    setSaved('Budget added.');
    onSaved();
  };
  const remove = async (index: number) => {
    setSaved(null);
    setRemoving(index);
    const done = await action.run(() => put(budgets.filter((_, i) => i !== index).map(budgetBody)));
    setRemoving(null);
    if (!done) return;
    setSaved('Budget removed.');
    onSaved();
  };
  // the api names the new budget by its place in the list sent: say it as the form's fields
  const fieldName = (field: string) => field.replace(`budgets[${budgets.length}].`, 'new budget: ');
  return (
    <>
      {budgets.length === 0 ? (
        <p>No budgets.</p>
      ) : (
        <ul class="budgets">
          {budgets.map((b, i) => (
            <li key={`${b.scope}/${b.agent_id ?? b.customer_id ?? ''}/${b.period}`}>
              {describeBudget(b)}{' '}
              <button
                type="button"
                disabled={action.busy}
                aria-label={`Remove budget ${describeBudget(b)}`}
                onClick={() => void remove(i)}
              >
                {removing === i ? 'Removing…' : 'Remove'}
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        class="controls edit"
        onSubmit={(e) => void add(e)}
        aria-label="New budget"
        aria-busy={action.busy}
      >
        <Field label="Budget scope">
          <select value={scope} onChange={(e) => setScope(value(e) as Budget['scope'])}>
            <option value="team">the whole team</option>
            <option value="agent">one agent</option>
            <option value="customer">one customer</option>
          </select>
        </Field>
        {scope === 'agent' && (
          <Field label="Agent id">
            <input type="text" value={subject} onInput={(e) => setSubject(value(e))} />
          </Field>
        )}
        {scope === 'customer' && (
          <Field label="Customer id">
            <input type="text" value={subject} onInput={(e) => setSubject(value(e))} />
          </Field>
        )}
        <Field label="Budget period">
          <select value={period} onChange={(e) => setPeriod(value(e) as Budget['period'])}>
            <option value="day">per day</option>
            <option value="month">per month</option>
          </select>
        </Field>
        <Field label="Amount">
          <input
            type="text"
            inputMode="decimal"
            value={amount}
            placeholder="50"
            onInput={(e) => setAmount(value(e))}
          />
        </Field>
        <Field label="Currency">
          <input type="text" value={currency} maxLength={3} onInput={(e) => setCurrency(value(e))} />
        </Field>
        <label class="check">
          <input
            type="checkbox"
            checked={block}
            onChange={(e) => setBlock((e.target as HTMLInputElement).checked)}
          />{' '}
          Block at 100% (the guard refuses the scope until the period ends)
        </label>
        <button type="submit" disabled={action.busy}>
          {action.busy && removing === null ? 'Adding…' : 'Add budget'}
        </button>
      </form>
      <FormError error={action.error} fieldName={fieldName} />
      {saved && (
        <p role="status" class="saved">
          {saved}
        </p>
      )}
    </>
  );
}
