import { useState } from 'preact/hooks';
import { api, itemsOf, type Money, type Whoami } from '../api';
import { formatMoney, formatTime } from '../format';
import { navigate } from '../router';
import { Async, ErrorBox, Field, TableBox, useData } from '../ui';

interface TeamSettings {
  team: string;
  zscore_threshold: number;
  baseline_days: number;
  min_history_days: number;
  timezone: string;
  quality_threshold: number;
  late_after_minutes: number;
  budgets: { scope: string; agent_id?: string; customer_id?: string; period: string; amount: Money }[];
  rules: Record<string, Record<string, number | boolean>>;
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
interface Rate {
  id: string;
  source: string;
  provider: string;
  model_id: string;
  effective_from: string;
  per_million_tokens: { input: Money; output: Money };
}
interface Unpriced {
  team: string;
  provider: string | null;
  model: string;
  runs?: number;
  explanation?: string;
  last_seen?: string;
}

/** Team settings, routes, keys, rate-card overrides and unpriced models; thresholds editable by a key that may. */
export function SettingsPage({ query, me }: { query: URLSearchParams; me: Whoami }) {
  const team = me.role === 'admin' ? (query.get('team') ?? '') : me.team;
  const [version, setVersion] = useState(0);
  const settings = useData(
    () =>
      team ? api<TeamSettings>(`/v1/teams/${encodeURIComponent(team)}/settings`) : Promise.resolve(null),
    [team, version],
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
    () => api<{ rows: Rate[] }>('/v1/rate-card').then((a) => a.rows.filter((r) => r.source !== 'dataset')),
    [],
  );
  const unpriced = useData(
    () => api<unknown>('/v1/models/unpriced', scope).then((a) => itemsOf<Unpriced>(a, 'models')),
    [team],
  );
  return (
    <section>
      <h1>Settings</h1>
      {me.role === 'admin' ? (
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
            <TeamSettingsView settings={s} onSaved={() => setVersion(version + 1)} />
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
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableBox>
          )
        }
      </Async>
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
                    <td>{k.revoked_at ? formatTime(k.revoked_at) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </Async>
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
                    <th scope="col">Provider</th>
                    <th scope="col">Model</th>
                    <th scope="col">Since</th>
                    <th scope="col" class="num">
                      Input / 1M tokens
                    </th>
                    <th scope="col" class="num">
                      Output / 1M tokens
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((r) => (
                    <tr key={r.id}>
                      <td>{r.provider}</td>
                      <td>{r.model_id}</td>
                      <td>{formatTime(r.effective_from, false)}</td>
                      <td class="num">{formatMoney(r.per_million_tokens.input)}</td>
                      <td class="num">{formatMoney(r.per_million_tokens.output)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableBox>
          )
        }
      </Async>
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

function TeamSettingsView({ settings, onSaved }: { settings: TeamSettings; onSaved: () => void }) {
  const [z, setZ] = useState(String(settings.zscore_threshold));
  const [baseline, setBaseline] = useState(String(settings.baseline_days));
  const [minHistory, setMinHistory] = useState(String(settings.min_history_days));
  const [status, setStatus] = useState<{ error?: Error; saved?: boolean }>({});
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      await api(`/v1/teams/${encodeURIComponent(settings.team)}/settings`, undefined, {
        method: 'PUT',
        body: {
          zscore_threshold: Number(z),
          baseline_days: Number(baseline),
          min_history_days: Number(minHistory),
        },
      });
      setStatus({ saved: true });
      onSaved();
    } catch (err) {
      setStatus({ error: err as Error });
    }
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
      <form class="controls edit" onSubmit={(e) => void save(e)} aria-label="Detection thresholds">
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
        <button type="submit">Save thresholds</button>
      </form>
      {status.error && <ErrorBox error={status.error} />}
      {status.saved && (
        <p role="status" class="saved">
          Saved: they apply to the next run the pipeline sees.
        </p>
      )}
      <h3>Budgets</h3>
      {settings.budgets.length === 0 ? (
        <p>No budgets.</p>
      ) : (
        <ul>
          {settings.budgets.map((b, i) => (
            <li key={i}>
              {b.scope}
              {b.agent_id ? ` ${b.agent_id}` : ''}
              {b.customer_id ? ` ${b.customer_id}` : ''}: {formatMoney(b.amount)} per {b.period}
            </li>
          ))}
        </ul>
      )}
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
