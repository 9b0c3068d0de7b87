import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, useSyncExternalStore, type FormEvent } from 'react';
import { Link, NavLink, Outlet } from 'react-router';
import { platformSignIn, signIn, token } from '../api.js';
import { useMe } from '../me.js';

/** The frame of every page: where you are, where you can go, and signing in when asked. */
export function Layout() {
  const session = useSyncExternalStore(signIn.subscribe, signIn.session);
  // Who this tab is, asked once up front, so every page (even one that reads nothing, such as
  // Submit) offers to sign in before it is used.
  const me = useMe();
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          cloudjobs
        </Link>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Jobs
          </NavLink>
          <NavLink to="/submit">Submit</NavLink>
          <NavLink to="/files">Files</NavLink>
          <NavLink to="/secrets">Secrets</NavLink>
          <NavLink to="/subscriptions">Subscriptions</NavLink>
          <NavLink to="/pools">Pools and templates</NavLink>
        </nav>
        <div className="whoami">
          {me.data && (
            <span className="muted small" data-testid="whoami">
              {me.data.owner}
              {me.data.admin ? ' (admin)' : ''}
            </span>
          )}
          <SignOut platform={me.data?.via === 'appServiceAuth'} />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <SignIn />
        <Outlet key={session} />
      </main>
    </>
  );
}

function SignOut({ platform }: { platform: boolean }) {
  const queries = useQueryClient();
  const asked = useSyncExternalStore(signIn.subscribe, signIn.asked);
  // Signed in through Static Web Apps: the platform holds the session, so it signs out.
  if (platform) return <a href="/.auth/logout">Sign out</a>;
  if (asked || !token.get()) return null;
  return (
    <button
      type="button"
      className="link"
      onClick={() => {
        token.clear();
        queries.clear();
        signIn.set(true);
      }}
    >
      Sign out
    </button>
  );
}

/**
 * Asks for an API token when the service refused the tab's requests; on Azure Static Web Apps
 * the platform's own sign-in is offered instead.
 */
function SignIn() {
  const queries = useQueryClient();
  const asked = useSyncExternalStore(signIn.subscribe, signIn.asked);
  const [value, setValue] = useState('');
  const platform = useQuery({ queryKey: ['platform-sign-in'], queryFn: platformSignIn, staleTime: Infinity });
  if (!asked || platform.isPending) return null;
  if (platform.data) {
    const back = encodeURIComponent(window.location.pathname + window.location.search);
    return (
      <section className="panel signin" aria-labelledby="signin-title">
        <h2 id="signin-title">Sign in</h2>
        <p>Sign in with your organisation’s Microsoft account to see your jobs.</p>
        <a className="button" href={`/.auth/login/aad?post_login_redirect_uri=${back}`}>
          Sign in with Microsoft
        </a>
      </section>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    token.set(value);
    setValue('');
    signIn.set(false);
    void queries.invalidateQueries();
  };
  return (
    <section className="panel signin" aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      <p>
        This service asks for an API token (one of its <code>CLOUDJOBS_API_TOKENS</code>). It is kept in this
        tab only.
      </p>
      <form onSubmit={submit} className="row">
        <label htmlFor="token">API token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          required
          value={value}
          onChange={(event) => setValue(event.target.value)}
        />
        <button type="submit">Sign in</button>
      </form>
    </section>
  );
}
