// Render a screen with a real api client over a scripted fetch, the way App provides them.
import { render } from '@testing-library/react';
import { vi } from 'vitest';
import { createApi } from '../lib/api.js';
import { PortalContext } from '../lib/hooks.js';
import { Router } from '../lib/router.jsx';

export const ME = { username: 'alice', name: 'alice', groups: ['requesters'], can_request: true, can_manage_any: false,
  is_security_officer: false, is_staff: false };

export function json(body, { status = 200, headers = {} } = {}) {
  return new Response(status === 304 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

/** routes: [[method, RegExp or string prefix, (url, init) => Response]]; unmatched requests are 404. */
export function scriptedFetch(routes) {
  return vi.fn(async (url, init = {}) => {
    const method = init.method || 'GET';
    for (const [m, pattern, respond] of routes) {
      const hit = typeof pattern === 'string' ? url.startsWith(pattern) : pattern.test(url);
      if (m === method && hit) return respond(url, init);
    }
    return json({ detail: `no route for ${method} ${url}` }, { status: 404 });
  });
}

export function renderScreen(ui, { fetch, me = ME, options = { pollSeconds: 2 }, initial = '/' } = {}) {
  const api = createApi('', fetch);
  return render(
    <PortalContext.Provider value={{ api, me, options }}>
      <Router mode="memory" initial={initial}>{ui}</Router>
    </PortalContext.Provider>,
  );
}

export const ENVIRONMENTS = [
  { name: 'staging', order: 10, requires_success_in: null, description: 'Pre-production testing.' },
  { name: 'canary', order: 20, requires_success_in: 'staging', description: 'A slice of production traffic.' },
];
