// The whole app over a scripted API: an account with no role is told so, and nothing else is asked.
import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { App } from '../App.jsx';
import { createApi } from '../lib/api.js';
import { ME, json, scriptedFetch } from './harness.jsx';

describe('App', () => {
  it('tells an account without a role why it sees nothing, and asks for no release', async () => {
    const fetch = scriptedFetch([['GET', '/api/me/', () => json({ ...ME, groups: [], can_read: false, can_request: false })]]);
    render(<App options={{ routing: 'memory', basePath: '/', initial: '/' }} api={createApi('', fetch)} />);
    expect(await screen.findByText('No role yet')).toBeTruthy();
    expect(fetch.mock.calls.map(([url]) => url)).toEqual(['/api/me/']);
  });
});
