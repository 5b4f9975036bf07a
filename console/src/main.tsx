import './styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, onUnauthorised, session, type Whoami } from './api';
import { href, useRoute } from './router';
import { AgentPage } from './pages/agent';
import { CustomersPage } from './pages/customers';
import { IncidentsPage } from './pages/incidents';
import { LoginPage } from './pages/login';
import { RunPage } from './pages/run';
import { SettingsPage } from './pages/settings';
import { SpendPage } from './pages/spend';

const NAV = [
  { path: 'spend', label: 'Spend' },
  { path: 'customers', label: 'Top customers' },
  { path: 'incidents', label: 'Anomalies' },
  { path: 'settings', label: 'Settings' },
];

function App() {
  const route = useRoute();
  const [me, setMe] = useState<Whoami | null | undefined>(session.key() ? undefined : null);

  useEffect(() => {
    if (me !== undefined) return;
    api<Whoami>('/v1/whoami').then(setMe, (err: unknown) => {
      if (err instanceof ApiError && err.status === 401) session.clear();
      setMe(null);
    });
  }, [me]);
  useEffect(
    () =>
      onUnauthorised(() => {
        session.clear();
        setMe(null);
      }),
    [],
  );

  if (me === undefined) return <p class="boot">Loading burnrate…</p>;
  if (me === null)
    return (
      <LoginPage
        onLogin={(key, who) => {
          session.save(key);
          setMe(who);
        }}
      />
    );

  const page = route.path[0] ?? 'spend';
  const logout = () => {
    session.clear();
    setMe(null);
  };
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}
      >
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href(['spend'])}>
          burnrate
        </a>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li key={n.path}>
                <a href={href([n.path])} aria-current={page === n.path ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span title="The key of this browser tab's session">
            {me.role === 'admin' ? 'admin key' : `team ${me.team}`}
          </span>
          <button type="button" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page page={page} route={route} me={me} />
      </main>
    </>
  );
}

function Page({ page, route, me }: { page: string; route: ReturnType<typeof useRoute>; me: Whoami }) {
  switch (page) {
    case 'spend':
      return <SpendPage query={route.query} me={me} />;
    case 'customers':
      return <CustomersPage query={route.query} me={me} />;
    case 'agent':
      return <AgentPage agentId={route.path[1] ?? ''} query={route.query} me={me} />;
    case 'run':
      return <RunPage runId={route.path[1] ?? ''} query={route.query} />;
    case 'incidents':
      return <IncidentsPage query={route.query} me={me} />;
    case 'settings':
      return <SettingsPage query={route.query} me={me} />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no page “{page}”. <a href={href(['spend'])}>Go to Spend</a>.
          </p>
        </section>
      );
  }
}

const root = document.getElementById('app')!;
root.textContent = ''; // the loading line the page was served with
render(<App />, root);
