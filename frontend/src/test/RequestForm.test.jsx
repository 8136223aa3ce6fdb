import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { RequestForm } from '../components/RequestForm.jsx';
import { ENVIRONMENTS, json, renderScreen, scriptedFetch } from './harness.jsx';

const CATALOG = {
  name: 'fraud-detector', aliases: { champion: '2' }, versions_limit: 100,
  versions: [{ version: '2', run_id: 'r2', created_at: 0, description: '', aliases: ['champion'] },
    { version: '1', run_id: 'r1', created_at: 0, description: '', aliases: [] }],
  environments: [
    { name: 'staging', requires_success_in: null, min_soak_minutes: 0, any_version: true, allowed_versions: [], soaking: {} },
    { name: 'canary', requires_success_in: 'staging', min_soak_minutes: 0, any_version: false, allowed_versions: ['1'], soaking: {} },
  ],
};

function routes(extra = []) {
  return scriptedFetch([
    ...extra,
    ['GET', '/api/environments/', () => json(ENVIRONMENTS)],
    ['GET', '/api/models/fraud-detector/', () => json(CATALOG)],
    ['GET', '/api/models/?q=', (url) => json({ results: ['fraud-detector', 'fraud-v2'].filter((n) => n.includes(new URL(url, 'http://x').searchParams.get('q'))), limit: 20 })],
  ]);
}

describe('RequestForm', () => {
  it('checks fields as the API does and sends nothing while they are wrong', async () => {
    const fetch = routes();
    renderScreen(<RequestForm />, { fetch });
    const user = userEvent.setup();
    await user.type(screen.getByRole('combobox', { name: 'Model name' }), 'bad/name');
    await user.type(screen.getByLabelText('Version'), '0');
    await user.click(screen.getByRole('button', { name: 'Request release' }));
    const name = screen.getByRole('combobox', { name: 'Model name' });
    expect(name).toHaveAttribute('aria-invalid', 'true');
    expect(name).toHaveAccessibleDescription(expect.stringContaining("must not contain '/'"));
    expect(screen.getByLabelText('Version')).toHaveAccessibleDescription(expect.stringContaining('positive integer'));
    expect(screen.getByText('Choose an environment.')).toBeInTheDocument();
    expect(fetch.mock.calls.filter(([, init]) => init?.method === 'POST')).toHaveLength(0);
  });

  it('autocompletes model names from the gateway and lists versions with what the chain allows', async () => {
    const fetch = routes();
    renderScreen(<RequestForm />, { fetch });
    const user = userEvent.setup();
    await user.type(screen.getByRole('combobox', { name: 'Model name' }), 'fraud');
    const option = await screen.findByRole('option', { name: 'fraud-detector' });
    await user.keyboard('{ArrowDown}{Enter}');
    expect(screen.getByRole('combobox', { name: 'Model name' })).toHaveValue('fraud-detector');
    expect(option).toBeTruthy();
    expect(await screen.findByText(/Versions of fraud-detector/)).toBeInTheDocument();
    expect(fetch.mock.calls.some(([url]) => url.startsWith('/api/models/?q='))).toBe(true);
    // version 2 has not succeeded in staging: choosing it for canary says so before submitting
    await user.click(screen.getByRole('button', { name: 'Use version 2' }));
    await user.click(screen.getByRole('radio', { name: 'canary' }));
    expect(screen.getByText(/requires a SUCCEEDED release of fraud-detector version 2 in staging/)).toBeInTheDocument();
    expect(screen.getByText(/Allowed today: 1/)).toBeInTheDocument();
  });

  it('keeps the highlighted model when a later answer still lists it', async () => {
    // The first answer (for what was typed when the list opened) lets the user highlight a model; the
    // debounced query's answer arriving after that must not drop the highlight, or Enter does nothing.
    let release;
    const late = new Promise((resolve) => { release = resolve; });
    const fetch = routes([['GET', '/api/models/?q=fraud', async () => { await late; return json({ results: ['fraud-detector'], limit: 20 }); }]]);
    renderScreen(<RequestForm />, { fetch });
    const user = userEvent.setup();
    const name = screen.getByRole('combobox', { name: 'Model name' });
    await user.click(name);
    await screen.findByRole('option', { name: 'fraud-v2' });  // the answer for "" (everything)
    await user.type(name, 'fraud');
    await user.keyboard('{ArrowDown}');
    expect(screen.getByRole('option', { name: 'fraud-detector' })).toHaveAttribute('aria-selected', 'true');
    release();
    await waitFor(() => expect(fetch.mock.calls.some(([url]) => url.startsWith('/api/models/?q=fraud'))).toBe(true));
    await waitFor(() => expect(screen.queryByRole('option', { name: 'fraud-v2' })).toBeNull());  // the late answer landed
    await user.keyboard('{Enter}');
    expect(name).toHaveValue('fraud-detector');
  });

  it("shows the server's field errors next to their fields", async () => {
    const fetch = routes([['POST', '/api/releases/', () => json({ model_version: ['Ensure this field has no more than 10 characters.'] }, { status: 400 })]]);
    renderScreen(<RequestForm />, { fetch });
    const user = userEvent.setup();
    await user.type(screen.getByRole('combobox', { name: 'Model name' }), 'fraud-detector');
    await user.type(screen.getByLabelText('Version'), '3');
    await user.click(await screen.findByRole('radio', { name: 'staging' }));
    await user.click(screen.getByRole('button', { name: 'Request release' }));
    await waitFor(() => expect(screen.getByLabelText('Version')).toHaveAccessibleDescription(expect.stringContaining('no more than 10')));
    const post = fetch.mock.calls.find(([, init]) => init?.method === 'POST');
    expect(JSON.parse(post[1].body)).toEqual({ model_name: 'fraud-detector', model_version: '3', target_environment: 'staging' });
    expect(post[1].headers['Idempotency-Key']).toBeTruthy();
  });

  it('shows a promotion refusal (409) at the environment', async () => {
    const fetch = routes([['POST', '/api/releases/', () => json({ detail: 'canary requires a SUCCEEDED release of m version 3 in staging first.' }, { status: 409 })]]);
    renderScreen(<RequestForm />, { fetch });
    const user = userEvent.setup();
    await user.type(screen.getByRole('combobox', { name: 'Model name' }), 'm');
    await user.type(screen.getByLabelText('Version'), '3');
    await user.click(await screen.findByRole('radio', { name: 'canary' }));
    await user.click(screen.getByRole('button', { name: 'Request release' }));
    expect(await screen.findByText(/canary requires a SUCCEEDED release of m version 3/)).toBeInTheDocument();
  });

  it('sends an alias without its @ and tells non-requesters they cannot request', async () => {
    const fetch = routes([['POST', '/api/releases/', () => json({ id: 7 }, { status: 201 })]]);
    renderScreen(<RequestForm />, { fetch });
    const user = userEvent.setup();
    await user.type(screen.getByRole('combobox', { name: 'Model name' }), 'fraud-detector');
    await user.click(screen.getByRole('radio', { name: /An alias/ }));
    await user.type(screen.getByLabelText('Alias'), '@champion');
    await user.click(await screen.findByRole('radio', { name: 'staging' }));
    await user.click(screen.getByRole('button', { name: 'Request release' }));
    await waitFor(() => expect(fetch.mock.calls.some(([, i]) => i?.method === 'POST')).toBe(true));
    const post = fetch.mock.calls.find(([, init]) => init?.method === 'POST');
    expect(JSON.parse(post[1].body).model_alias).toBe('champion');
  });
});

describe('RequestForm for a non-requester', () => {
  it('offers no form', () => {
    renderScreen(<RequestForm />, { fetch: routes(), me: { username: 'bob', can_request: false } });
    expect(screen.queryByRole('button', { name: 'Request release' })).toBeNull();
    expect(screen.getByText(/Only requesters may request releases/)).toBeInTheDocument();
  });
});
