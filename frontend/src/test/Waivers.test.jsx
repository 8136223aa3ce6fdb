import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { DryRun } from '../components/DryRun.jsx';
import { Waivers } from '../components/Waivers.jsx';
import { ENVIRONMENTS, json, renderScreen, scriptedFetch } from './harness.jsx';

const WAIVER = (id, over = {}) => ({ id, advisory_id: `GHSA-${id}`, package: '', model_name: 'fraud', environment: null,
  reason: 'Not reachable.', expires_at: '2027-01-01T00:00:00Z', state: 'pending', created_by: 'sec1', created_at: '2026-12-01T00:00:00Z',
  approved_by: null, approved_at: null, revoked_at: null, ...over });
const OFFICER = { username: 'sec2', can_request: false, is_security_officer: true };

function routes(list, extra = []) {
  return scriptedFetch([
    ...extra,
    ['GET', '/api/environments/', () => json(ENVIRONMENTS)],
    ['GET', '/api/waivers/', () => json({ count: list.length, results: list })],
  ]);
}

describe('waivers', () => {
  it('say what each covers, and offer approve only to a second officer', () => {
    const fetch = routes([WAIVER(1), WAIVER(2, { created_by: 'sec2' }), WAIVER(3, { state: 'active', approved_by: 'sec1' })]);
    renderScreen(<Waivers />, { fetch, me: OFFICER });
    return waitFor(() => {
      expect(screen.getByText('GHSA-1 in any package, for fraud, in every environment')).toBeInTheDocument();
      expect(screen.getByRole('button', { name: 'Approve waiver 1' })).toBeInTheDocument();
      expect(screen.queryByRole('button', { name: 'Approve waiver 2' })).toBeNull(); // their own
      expect(screen.getByText('Needs another officer')).toBeInTheDocument();
      expect(screen.queryByRole('button', { name: 'Approve waiver 3' })).toBeNull(); // already active
      expect(screen.getByRole('button', { name: 'Revoke waiver 3' })).toBeInTheDocument();
    });
  });

  it('offer nothing but the list to someone who is not a security officer', async () => {
    renderScreen(<Waivers />, { fetch: routes([WAIVER(1)]), me: { username: 'alice', is_security_officer: false } });
    expect(await screen.findByText(/GHSA-1 in any package/)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Approve|Revoke|Create/ })).toBeNull();
  });

  it('check the form, then show the server field errors by their fields', async () => {
    let posted = null;
    const fetch = routes([], [['POST', '/api/waivers/', (u, init) => { posted = JSON.parse(init.body); return json({ expires_at: ['A waiver may last at most 90 days (WAIVER_MAX_DAYS).'] }, { status: 400 }); }]]);
    renderScreen(<Waivers />, { fetch, me: OFFICER });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Create waiver' }));
    expect(screen.getByLabelText('Advisory id or alias')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText('Reason')).toHaveAccessibleDescription(expect.stringContaining('A reason is required.'));
    expect(posted).toBeNull();
    await user.type(screen.getByLabelText('Advisory id or alias'), 'CVE-2026-1');
    await user.type(screen.getByLabelText('Reason'), 'Mitigated upstream.');
    await user.click(screen.getByRole('button', { name: 'Create waiver' }));
    await waitFor(() => expect(screen.getByLabelText('Expires at the end of')).toHaveAccessibleDescription(expect.stringContaining('at most 90 days')));
    expect(posted).toMatchObject({ advisory_id: 'CVE-2026-1', reason: 'Mitigated upstream.', environment: null });
  });

  it('approve through the API and show the refusal it gives', async () => {
    const fetch = routes([WAIVER(1)], [['POST', '/api/waivers/1/approve/', () => json({ detail: 'Waiver #1 is already active.' }, { status: 409 })]]);
    renderScreen(<Waivers />, { fetch, me: OFFICER });
    await userEvent.setup().click(await screen.findByRole('button', { name: 'Approve waiver 1' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Waiver #1 is already active.');
  });
});

describe('would this pass?', () => {
  it('shows the decision with every reason and the findings', async () => {
    const result = {
      model_name: 'fraud', model_version: '3', environment: 'canary',
      decision: { passed: false, summary: 'Found 1 CRITICAL.', policy_version: 2, environment: 'canary', block_at: 'HIGH',
        blocking: [{ package: 'pyyaml', version: '5.3.1', advisory_id: 'GHSA-x', severity: 'CRITICAL', definite: true, where: 'requirements.txt:2', reason: 'CRITICAL is at or above HIGH' }],
        unreadable: [{ package: '', where: 'conda.yaml:4', unreadable: true, reason: 'conda.yaml:4: duplicate key' }],
        gates: [{ gate: 'accuracy >= 0.9', passed: false, message: 'accuracy = 0.8' }], warnings: [], waived: [], ignored: [], waivers_used: [], below_threshold: 0, rego: null },
      scan: { counts: { CRITICAL: 1 }, possible_counts: {}, dependencies: [{}], findings_count: 1, issues: [],
        findings: [{ package: 'pyyaml', version: '5.3.1', specifier: '', advisory_id: 'GHSA-x', aliases: [], summary: '', severity: 'CRITICAL', score: 9.8, fixed_versions: ['5.4'], definite: true, source_file: 'requirements.txt', line: 2, role: 'runtime' }] },
    };
    let body = null;
    const fetch = scriptedFetch([
      ['GET', '/api/environments/', () => json(ENVIRONMENTS)],
      ['POST', '/api/policy/evaluate/', (u, init) => { body = JSON.parse(init.body); return json(result); }],
    ]);
    renderScreen(<DryRun />, { fetch });
    const user = userEvent.setup();
    await user.type(screen.getByRole('combobox', { name: 'Model name' }), 'fraud');
    await user.type(screen.getByRole('textbox', { name: 'Version' }), '3');
    await user.click(await screen.findByRole('radio', { name: 'canary' }));
    await user.click(screen.getByRole('button', { name: 'Check' }));
    expect(await screen.findByText('Blocked by the policy')).toBeInTheDocument();
    expect(body).toEqual({ model_name: 'fraud', model_version: '3', environment: 'canary' });
    expect(screen.getByText('conda.yaml:4: duplicate key')).toBeInTheDocument();
    expect(screen.getByText(/pyyaml 5.3.1 GHSA-x \(CRITICAL\) at requirements.txt:2 — CRITICAL is at or above HIGH/)).toBeInTheDocument();
    expect(screen.getByText('✖ failed: accuracy >= 0.9 (accuracy = 0.8)')).toBeInTheDocument();
    const table = screen.getByRole('table', { name: 'Findings' });
    expect(within(table).getByText('5.4')).toBeInTheDocument();
  });
});
