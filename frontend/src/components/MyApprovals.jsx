// Releases the signed-in user can decide on now, longest waiting first.
import { useEffect, useState } from 'react';
import { formatTime } from '../lib/format.js';
import { useResource } from '../lib/hooks.js';
import { Link } from '../lib/router.jsx';
import { ErrorAlert, Pager, ui } from './common.jsx';

const PAGE_SIZE = 25;
const REFRESH_SECONDS = 30;

export function MyApprovals() {
  const [page, setPage] = useState(1);
  const res = useResource(`/api/approvals/pending/?page=${page}&page_size=${PAGE_SIZE}`);
  const { reload } = res;
  useEffect(() => {
    const t = setInterval(reload, REFRESH_SECONDS * 1000);
    return () => clearInterval(t);
  }, [reload]);
  return (
    <section aria-labelledby="approvals-page-title">
      <h1 id="approvals-page-title" className={ui.h1}>My approvals</h1>
      <p className={ui.muted}>Releases you can approve or reject now. Refreshed every {REFRESH_SECONDS} seconds.{' '}
        <button type="button" className={ui.linkButton} onClick={reload}>Refresh now</button></p>
      <ErrorAlert error={res.error} />
      {res.data && res.data.count === 0 && <p role="status">Nothing is waiting for you.</p>}
      {res.data && res.data.count > 0 && (
        <div className={ui.tableWrap}>
          <table className={ui.table}>
            <caption className={ui.visuallyHidden}>Releases waiting for your decision</caption>
            <thead><tr><th scope="col">Release</th><th scope="col">Version</th><th scope="col">Environment</th>
              <th scope="col">Stage</th><th scope="col">Requested by</th><th scope="col">Waiting since</th></tr></thead>
            <tbody>
              {res.data.results.map((r) => (
                <tr key={r.id}>
                  <td><Link to={`/releases/${r.id}`}>#{r.id} {r.model_name}</Link></td>
                  <td>{r.model_version}</td><td>{r.environment}</td><td>{r.stage}</td>
                  <td>{r.requested_by}</td><td>{formatTime(r.waiting_since)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {res.data && <Pager page={page} count={res.data.count} pageSize={PAGE_SIZE} onPage={setPage} label="Approval pages" />}
    </section>
  );
}
