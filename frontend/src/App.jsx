// The portal: who is signed in, the navigation, and the screen for the current address.
import { useEffect, useMemo, useState } from 'react';
import { ErrorAlert, ui } from './components/common.jsx';
import { DryRun } from './components/DryRun.jsx';
import { MyApprovals } from './components/MyApprovals.jsx';
import { ReleaseDetail } from './components/ReleaseDetail.jsx';
import { ReleaseList } from './components/ReleaseList.jsx';
import { RequestForm } from './components/RequestForm.jsx';
import { Waivers } from './components/Waivers.jsx';
import { createApi } from './lib/api.js';
import { PortalContext } from './lib/hooks.js';
import { Link, Router, match, useRouter } from './lib/router.jsx';

function Screen() {
  const { path } = useRouter();
  const release = match('/releases/:id', path);
  if (release && /^[0-9]+$/.test(release.id)) return <ReleaseDetail id={release.id} />;
  if (path === '/' || path === '/releases') return <ReleaseList />;
  if (path === '/new') return <RequestForm />;
  if (path === '/approvals') return <MyApprovals />;
  if (path === '/waivers') return <Waivers />;
  if (path === '/dry-run') return <DryRun />;
  return <p>There is no page here. <Link to="/">Go to the releases.</Link></p>;
}

function Header({ me, options }) {
  return (
    <header className={ui.header}>
      <p className={ui.brand}>Model Release Gateway</p>
      <nav className={ui.nav} aria-label="Portal">
        <Link to="/releases">Releases</Link>
        {me.can_request && <Link to="/new">Request a release</Link>}
        <Link to="/approvals">My approvals</Link>
        <Link to="/waivers">Waivers</Link>
        {me.can_request && <Link to="/dry-run">Would this pass?</Link>}
      </nav>
      <div className={ui.who}>
        <span>Signed in as <strong>{me.username}</strong></span>
        {options.adminUrl && !options.embed && <a href={options.adminUrl} className={ui.small}>Admin</a>}
        {!options.embed && <SignOut />}
      </div>
    </header>
  );
}

function SignOut() {
  const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken='))?.slice(10) || '';
  return (
    <form method="post" action="/logout/">
      <input type="hidden" name="csrfmiddlewaretoken" value={decodeURIComponent(token)} />
      <button type="submit" className={ui.linkButton}>Sign out</button>
    </form>
  );
}

// Signed in, but in no group: the API answers 403 to everything it would show (releases/permissions.py).
function NoRole() {
  return (
    <section className={ui.card} role="status">
      <h1 className={ui.h2}>No role yet</h1>
      <p>Your account has no role in the gateway, so there is nothing it may show you.
        Ask a platform admin to add you to a group (requesters, ml-leads, security-officers, sre or auditors).</p>
    </section>
  );
}

export function App({ options, api: givenApi }) {
  const api = useMemo(() => givenApi || createApi(options.apiBase || ''), [givenApi, options.apiBase]);
  const [me, setMe] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api.get('/api/me/').then((res) => setMe(res.data), setError);
  }, [api]);
  const context = useMemo(() => ({ api, me, options }), [api, me, options]);
  return (
    <Router mode={options.routing} basePath={options.basePath} embed={options.embed} initial={options.initial || '/'}>
      {error && <div className={ui.page}><ErrorAlert error={error} /></div>}
      {me && (
        <PortalContext.Provider value={context}>
          <Header me={me} options={options} />
          <main className={ui.page} id="gateway-main">
            {me.can_read === false ? <NoRole /> : <Screen />}
          </main>
        </PortalContext.Provider>
      )}
      {!me && !error && <p className={ui.page} role="status">Loading…</p>}
    </Router>
  );
}
