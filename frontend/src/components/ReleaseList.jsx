// Releases: filters (status, environment, model, mine) kept in the address, status badges, pages.
import { queryString } from '../lib/api.js';
import { STATUS_LABELS, formatTime } from '../lib/format.js';
import { usePortal, useResource } from '../lib/hooks.js';
import { Link, useRouter } from '../lib/router.jsx';
import { ErrorAlert, Field, Pager, StatusBadge, ui } from './common.jsx';

const PAGE_SIZE = 25;
// Groups of statuses a reader asks for, then each status.
export const STATUS_FILTERS = {
  '': { label: 'Any status', statuses: [] },
  active: { label: 'In progress', statuses: ['PENDING', 'SCANNING_DEPENDENCIES', 'SCAN_PASSED', 'APPROVED', 'BUILDING_IMAGE'] },
  waiting: { label: 'Awaiting approval', statuses: ['AWAITING_APPROVAL'] },
  blocked: { label: 'Failed or blocked', statuses: ['SCAN_FAILED', 'BUILD_FAILED', 'FAILED', 'REJECTED'] },
  ...Object.fromEntries(Object.entries(STATUS_LABELS).map(([s, label]) => [s, { label: `Only: ${label}`, statuses: [s] }])),
};

export function ReleaseList() {
  const { me } = usePortal();
  const { query, navigate } = useRouter();
  const statusKey = STATUS_FILTERS[query.get('status') || ''] ? query.get('status') || '' : '';
  const environment = query.get('environment') || '';
  const model = query.get('model') || '';
  const mine = query.get('mine') === '1';
  const page = Math.max(1, parseInt(query.get('page') || '1', 10) || 1);
  const envs = useResource('/api/environments/');
  const list = useResource(`/api/releases/${queryString({
    status: STATUS_FILTERS[statusKey].statuses, environment, model_name_contains: model,
    requested_by: mine ? me.username : '', page, page_size: PAGE_SIZE,
  })}`);

  const setFilter = (changes) => {
    const next = { status: statusKey, environment, model, mine: mine ? '1' : '', page: '', ...changes };
    navigate(`/releases${queryString(next)}`, { replace: true });
  };

  return (
    <section aria-labelledby="releases-title">
      <div className={ui.row} style={{ justifyContent: 'space-between', alignItems: 'center' }}>
        <h1 id="releases-title" className={ui.h1}>Releases</h1>
        {me.can_request && <Link to="/new" className={`${ui.button} ${ui.primary}`}>Request a release</Link>}
      </div>
      <form className={`${ui.card} ${ui.row}`} role="search" aria-label="Filter releases" onSubmit={(e) => e.preventDefault()}>
        <Field label="Status">
          {(p) => (
            <select {...p} className={ui.select} value={statusKey} onChange={(e) => setFilter({ status: e.target.value })}>
              {Object.entries(STATUS_FILTERS).map(([key, f]) => <option key={key} value={key}>{f.label}</option>)}
            </select>
          )}
        </Field>
        <Field label="Environment">
          {(p) => (
            <select {...p} className={ui.select} value={environment} onChange={(e) => setFilter({ environment: e.target.value })}>
              <option value="">Any environment</option>
              {(envs.data || []).map((env) => <option key={env.name} value={env.name}>{env.name}</option>)}
            </select>
          )}
        </Field>
        <Field label="Model name contains">
          {(p) => (
            <input {...p} className={ui.input} type="search" defaultValue={model} key={model}
                   onKeyDown={(e) => { if (e.key === 'Enter') setFilter({ model: e.currentTarget.value.trim() }); }}
                   onBlur={(e) => { if (e.currentTarget.value.trim() !== model) setFilter({ model: e.currentTarget.value.trim() }); }} />
          )}
        </Field>
        <label className={ui.choice} style={{ marginBottom: '19px' }}>
          <input type="checkbox" checked={mine} onChange={(e) => setFilter({ mine: e.target.checked ? '1' : '' })} />
          Only my requests
        </label>
      </form>
      <ErrorAlert error={list.error} />
      {list.data && (
        <>
          <p className={ui.muted} role="status">
            {list.data.count === 0 ? 'No releases match these filters.' : `${list.data.count} release${list.data.count === 1 ? '' : 's'}`}
          </p>
          {list.data.count > 0 && (
            <div className={ui.tableWrap}>
              <table className={ui.table}>
                <caption className={ui.visuallyHidden}>Releases, newest first</caption>
                <thead>
                  <tr><th scope="col">#</th><th scope="col">Model</th><th scope="col">Version</th>
                    <th scope="col">Environment</th><th scope="col">Status</th><th scope="col">Requested by</th>
                    <th scope="col">Updated</th></tr>
                </thead>
                <tbody>
                  {list.data.results.map((r) => (
                    <tr key={r.id}>
                      <td><Link to={`/releases/${r.id}`} aria-label={`Release ${r.id}: ${r.model_name}`}>#{r.id}</Link></td>
                      <td><Link to={`/releases/${r.id}`}>{r.model_name}</Link></td>
                      <td>{r.model_version || '—'}{r.requested_ref.startsWith('@') && <span className={ui.muted}> ({r.requested_ref})</span>}</td>
                      <td>{r.environment}</td>
                      <td><StatusBadge status={r.status} /></td>
                      <td>{r.requested_by}</td>
                      <td>{formatTime(r.updated_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager page={page} count={list.data.count} pageSize={PAGE_SIZE} onPage={(p) => setFilter({ page: String(p) })}
                 label="Release pages" />
        </>
      )}
    </section>
  );
}
