import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReleaseDetail } from '../components/ReleaseDetail.jsx';
import { json, renderScreen, scriptedFetch } from './harness.jsx';

const RELEASE = {
  id: 5, model_name: 'fraud', requested_ref: '2', model_version: '2', environment: 'canary', status: 'PENDING',
  status_message: '', failed_step: '', requested_by: 'alice', mlflow_run_id: 'r1', mlflow_source: '',
  image_reference: '', image_digest: '', created_at: '2026-12-01T00:00:00Z', updated_at: '2026-12-01T00:00:00Z',
  latest_scan: null, files: [], events: [{ id: 1, from_status: '', to_status: 'PENDING', actor: 'alice', message: 'Release requested.', data: {}, created_at: '2026-12-01T00:00:00Z' }],
};
const STAGE = { order: 1, name: 'ML lead', satisfied: false, open: true, approved_by: [],
  rules: [{ group: 'ml-leads', required: 1, approvals: 0, still_needed: 1 }] };
const approvals = (over = {}) => ({ release: 5, status: 'AWAITING_APPROVAL', scan_report: 1, stages: [STAGE], decisions: [],
  can_decide: false, reason: 'You requested this release.', ...over });

afterEach(() => vi.useRealTimers());

describe('release detail: approval buttons', () => {
  it('are absent for someone who may not decide, with the reason', async () => {
    const fetch = scriptedFetch([
      ['GET', '/api/releases/5/approvals/', () => json(approvals())],
      ['GET', '/api/releases/5/', () => json({ ...RELEASE, status: 'AWAITING_APPROVAL' }, { headers: { ETag: '"a"' } })],
    ]);
    renderScreen(<ReleaseDetail id="5" />, { fetch });
    expect(await screen.findByText('You cannot decide: You requested this release.')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Reject' })).toBeNull();
    expect(screen.getByText(/1 more needed/)).toBeInTheDocument();
  });

  it('are shown to someone who may decide, and a rejection needs a comment', async () => {
    let decided = null;
    // The server's state: after the rejection every answer carries it (the page refetches after deciding).
    const state = () => (decided
      ? approvals({ status: 'REJECTED', decisions: [{ user: 'bob', stage: 'ML lead', approved: false, comment: decided.comment, at: '2026-12-01T00:00:00Z' }] })
      : approvals({ can_decide: true, reason: null }));
    const fetch = scriptedFetch([
      ['GET', '/api/releases/5/approvals/', () => json(state())],
      ['POST', '/api/releases/5/reject/', (url, init) => { decided = JSON.parse(init.body); return json(state()); }],
      ['GET', '/api/releases/5/', () => json({ ...RELEASE, status: 'AWAITING_APPROVAL' }, { headers: { ETag: '"a"' } })],
    ]);
    renderScreen(<ReleaseDetail id="5" />, { fetch, me: { username: 'bob', can_request: false } });
    const user = userEvent.setup();
    await user.click(await screen.findByRole('button', { name: 'Reject' }));
    expect(screen.getByLabelText('Comment')).toHaveAccessibleDescription(expect.stringContaining('A rejection needs a comment'));
    expect(decided).toBeNull();
    await user.type(screen.getByLabelText('Comment'), 'Too slow');
    await user.click(screen.getByRole('button', { name: 'Reject' }));
    await waitFor(() => expect(decided).toEqual({ comment: 'Too slow' }));
    expect(await screen.findByText('Too slow')).toBeInTheDocument();
  });

  it('shows a refusal from the server (the API decides, not the button)', async () => {
    const fetch = scriptedFetch([
      ['GET', '/api/releases/5/approvals/', () => json(approvals({ can_decide: true, reason: null }))],
      ['POST', '/api/releases/5/approve/', () => json({ detail: 'You already decided at an earlier stage.' }, { status: 403 })],
      ['GET', '/api/releases/5/', () => json({ ...RELEASE, status: 'AWAITING_APPROVAL' }, { headers: { ETag: '"a"' } })],
    ]);
    renderScreen(<ReleaseDetail id="5" />, { fetch, me: { username: 'bob' } });
    await userEvent.setup().click(await screen.findByRole('button', { name: 'Approve' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('You already decided at an earlier stage.');
  });

  it('offers cancel to the requester and retry when a step failed, not to others', async () => {
    const failed = { ...RELEASE, status: 'FAILED', failed_step: 'fetch' };
    const routes = () => scriptedFetch([
      ['GET', '/api/releases/5/approvals/', () => json(approvals({ status: 'FAILED', stages: [] }))],
      ['GET', '/api/releases/5/', () => json(failed, { headers: { ETag: '"f"' } })],
    ]);
    const { unmount } = renderScreen(<ReleaseDetail id="5" />, { fetch: routes() });
    expect(await screen.findByRole('button', { name: 'Retry step fetch' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Cancel release' })).toBeInTheDocument();
    unmount();
    renderScreen(<ReleaseDetail id="5" />, { fetch: routes(), me: { username: 'mallory', can_manage_any: false } });
    await screen.findByText(/A step failed/);
    expect(screen.queryByRole('button', { name: /Retry/ })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Cancel release' })).toBeNull();
  });
});

describe('release detail: rebuild', () => {
  it('is offered after a failed build, needs a reason, and posts it', async () => {
    let posted = null;
    const gone = { ...RELEASE, status: 'FAILED', failed_step: 'build',
      status_message: 'The source image registry/models/fraud@sha256:ab (build #3, release #2) is gone from the registry.' };
    const fetch = scriptedFetch([
      ['GET', '/api/releases/5/approvals/', () => json(approvals({ status: 'FAILED', stages: [] }))],
      ['POST', '/api/releases/5/rebuild/', (url, init) => { posted = JSON.parse(init.body); return json({ ...gone, status: 'SCANNING_DEPENDENCIES' }); }],
      ['GET', '/api/releases/5/', () => json(posted ? { ...gone, status: 'SCANNING_DEPENDENCIES', failed_step: '' } : gone, { headers: { ETag: posted ? '"r"' : '"g"' } })],
    ]);
    renderScreen(<ReleaseDetail id="5" />, { fetch });
    const rebuild = await screen.findByRole('button', { name: 'Rebuild the image' });
    expect(rebuild).toBeDisabled();  // a rebuild is audited: it needs a reason
    const user = userEvent.setup();
    await user.type(screen.getByLabelText(/Reason for the rebuild/), 'source image deleted by the registry GC');
    await user.click(rebuild);
    await waitFor(() => expect(posted).toEqual({ reason: 'source image deleted by the registry GC' }));
  });

  it('is not offered when another step failed, nor to someone who may not manage the release', async () => {
    const routes = (release) => scriptedFetch([
      ['GET', '/api/releases/5/approvals/', () => json(approvals({ status: 'FAILED', stages: [] }))],
      ['GET', '/api/releases/5/', () => json(release, { headers: { ETag: '"x"' } })],
    ]);
    const { unmount } = renderScreen(<ReleaseDetail id="5" />, { fetch: routes({ ...RELEASE, status: 'FAILED', failed_step: 'fetch' }) });
    expect(await screen.findByRole('button', { name: 'Retry step fetch' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Rebuild the image' })).toBeNull();
    unmount();
    renderScreen(<ReleaseDetail id="5" />, { fetch: routes({ ...RELEASE, status: 'BUILD_FAILED' }), me: { username: 'mallory', can_manage_any: false } });
    expect((await screen.findAllByText(/build failed/i)).length).toBeGreaterThan(0);
    expect(screen.queryByRole('button', { name: 'Rebuild the image' })).toBeNull();
  });
});

describe('release detail: live updates', () => {
  it('polls with If-None-Match, keeps the page on 304, and shows the new status when it changes', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const answers = [
      () => json(RELEASE, { headers: { ETag: '"v1"' } }),
      () => json(null, { status: 304 }),
      () => json({ ...RELEASE, status: 'AWAITING_APPROVAL', events: [...RELEASE.events, { id: 2, from_status: 'SCAN_PASSED', to_status: 'AWAITING_APPROVAL', actor: 'system', message: 'Waiting for approvals.', data: {}, created_at: '2026-12-01T00:00:05Z' }] }, { headers: { ETag: '"v2"' } }),
      () => json(null, { status: 304 }),
    ];
    const seen = [];
    const fetch = scriptedFetch([
      ['GET', '/api/releases/5/approvals/', () => json(approvals({ status: 'PENDING', stages: [] }))],
      ['GET', '/api/releases/5/', (url, init) => { seen.push(init.headers['If-None-Match']); return (answers.shift() || answers[0] || (() => json(null, { status: 304 })))(); }],
    ]);
    renderScreen(<ReleaseDetail id="5" />, { fetch, options: { pollSeconds: 2 } });
    expect(await screen.findByText('Pending')).toBeInTheDocument();
    await act(async () => { await vi.advanceTimersByTimeAsync(2100); });
    expect(screen.getByText('Pending')).toBeInTheDocument();
    await act(async () => { await vi.advanceTimersByTimeAsync(2100); });
    expect(await screen.findByText('Awaiting approval')).toBeInTheDocument();
    expect(screen.getByText('Waiting for approvals.')).toBeInTheDocument();
    await act(async () => { await vi.advanceTimersByTimeAsync(2100); });
    expect(seen.slice(0, 4)).toEqual([undefined, '"v1"', '"v1"', '"v2"']);
    // Approvals were fetched again when the release changed, not on every poll.
    const approvalCalls = fetch.mock.calls.filter(([u]) => u === '/api/releases/5/approvals/').length;
    expect(approvalCalls).toBe(2);
  });

  it('stops polling once the release has ended', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const fetch = scriptedFetch([
      ['GET', '/api/releases/5/approvals/', () => json(approvals({ status: 'SUCCEEDED', stages: [] }))],
      ['GET', '/api/releases/5/', () => json({ ...RELEASE, status: 'SUCCEEDED', image_digest: 'sha256:abc' }, { headers: { ETag: '"s"' } })],
    ]);
    renderScreen(<ReleaseDetail id="5" />, { fetch, options: { pollSeconds: 1 } });
    expect(await screen.findByText('sha256:abc')).toBeInTheDocument();
    await act(async () => { await vi.advanceTimersByTimeAsync(5000); });
    const polls = fetch.mock.calls.filter(([u]) => u === '/api/releases/5/').length;
    expect(polls).toBeLessThanOrEqual(2);
  });

  it('says live updates paused when the gateway cannot be reached, and recovers', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let down = false;
    const fetch = vi.fn(async (url) => {
      if (url === '/api/releases/5/approvals/') return json(approvals({ status: 'PENDING', stages: [] }));
      if (down) throw new TypeError('Failed to fetch');
      return json(RELEASE, { headers: { ETag: '"v1"' } });
    });
    renderScreen(<ReleaseDetail id="5" />, { fetch, options: { pollSeconds: 1 } });
    await screen.findByText('Pending');
    down = true;
    await act(async () => { await vi.advanceTimersByTimeAsync(1100); });
    expect(await screen.findByText(/Live updates paused/)).toBeInTheDocument();
    down = false;
    await act(async () => { await vi.advanceTimersByTimeAsync(1100); });
    await waitFor(() => expect(screen.queryByText(/Live updates paused/)).toBeNull());
  });
});
