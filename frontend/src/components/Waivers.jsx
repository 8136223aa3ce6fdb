// Waivers: security officers create them, a second officer approves, any officer revokes. Everyone
// sees what each covers and when it expires.
import { useState } from 'react';
import { formatTime } from '../lib/format.js';
import { usePortal, useResource } from '../lib/hooks.js';
import { Alert, ErrorAlert, Field, Pager, showError, ui } from './common.jsx';

const PAGE_SIZE = 25;
const STATE_LABELS = { pending: '⏸ Pending second officer', active: '✔ Active', expired: '⌛ Expired', revoked: '✖ Revoked' };

function inDays(days) {
  const d = new Date(Date.now() + days * 86400000);
  return d.toISOString().slice(0, 10);
}

export function covers(w) {
  return `${w.advisory_id} in ${w.package || 'any package'}, for ${w.model_name || 'every model'}, in ${w.environment || 'every environment'}`;
}

function WaiverForm({ environments, onCreated }) {
  const { api } = usePortal();
  const empty = { advisory_id: '', package: '', model_name: '', environment: '', reason: '', expires: inDays(30) };
  const [value, setValue] = useState(empty);
  const [errors, setErrors] = useState({});
  const [failure, setFailure] = useState(null);
  const set = (k) => (e) => setValue({ ...value, [k]: e.target.value });
  const submit = async (e) => {
    e.preventDefault();
    setFailure(null);
    const found = {};
    if (!value.advisory_id.trim() || /\s/.test(value.advisory_id.trim())) found.advisory_id = ['An advisory id or alias such as GHSA-… or CVE-….'];
    if (!value.reason.trim()) found.reason = ['A reason is required.'];
    if (!value.expires || new Date(`${value.expires}T23:59:59Z`) <= new Date()) found.expires_at = ['The expiry must be in the future.'];
    setErrors(found);
    if (Object.keys(found).length) return;
    try {
      await api.post('/api/waivers/', {
        advisory_id: value.advisory_id.trim(), package: value.package.trim(), model_name: value.model_name.trim(),
        environment: value.environment || null, reason: value.reason, expires_at: `${value.expires}T23:59:59Z`,
      });
      setValue(empty);
      onCreated();
    } catch (err) {
      showError(err, setErrors, setFailure);
    }
  };
  return (
    <form className={ui.card} onSubmit={submit} noValidate aria-labelledby="new-waiver">
      <h2 id="new-waiver" className={ui.h2}>New waiver</h2>
      <p className={ui.muted}>It takes effect once a second security officer approves it.</p>
      <ErrorAlert error={failure} />
      <div className={ui.grid2}>
        <Field label="Advisory id or alias" errors={errors.advisory_id}>{(p) => <input {...p} className={ui.input} value={value.advisory_id} onChange={set('advisory_id')} />}</Field>
        <Field label="Package (blank: any)" errors={errors.package}>{(p) => <input {...p} className={ui.input} value={value.package} onChange={set('package')} />}</Field>
        <Field label="Model (blank: every model)" errors={errors.model_name}>{(p) => <input {...p} className={ui.input} value={value.model_name} onChange={set('model_name')} />}</Field>
        <Field label="Environment" errors={errors.environment}>
          {(p) => (
            <select {...p} className={ui.select} value={value.environment} onChange={set('environment')}>
              <option value="">Every environment</option>
              {environments.map((env) => <option key={env.name} value={env.name}>{env.name}</option>)}
            </select>
          )}
        </Field>
        <Field label="Expires at the end of" errors={errors.expires_at}>{(p) => <input {...p} className={ui.input} type="date" value={value.expires} onChange={set('expires')} />}</Field>
      </div>
      <Field label="Reason" errors={errors.reason} hint="Why the risk is acceptable until then.">
        {(p) => <textarea {...p} className={ui.textarea} value={value.reason} onChange={set('reason')} />}
      </Field>
      <button type="submit" className={`${ui.button} ${ui.primary}`}>Create waiver</button>
    </form>
  );
}

export function Waivers() {
  const { api, me } = usePortal();
  const [page, setPage] = useState(1);
  const list = useResource(`/api/waivers/?ordering=-created_at&page=${page}&page_size=${PAGE_SIZE}`);
  const envs = useResource('/api/environments/');
  const [failure, setFailure] = useState(null);
  const [notice, setNotice] = useState('');
  const act = async (waiver, action) => {
    setFailure(null);
    try {
      await api.post(`/api/waivers/${waiver.id}/${action}/`);
      setNotice(`Waiver #${waiver.id} ${action === 'approve' ? 'approved' : 'revoked'}.`);
      list.reload();
    } catch (err) {
      setFailure(err);
    }
  };
  const officer = me.is_security_officer;
  return (
    <section aria-labelledby="waivers-title">
      <h1 id="waivers-title" className={ui.h1}>Waivers</h1>
      {!officer && <p className={ui.muted}>Only security officers create, approve and revoke waivers.</p>}
      {officer && <WaiverForm environments={envs.data || []} onCreated={() => { setNotice('Waiver created; a second officer must approve it.'); list.reload(); }} />}
      {notice && <Alert kind="ok">{notice}</Alert>}
      <ErrorAlert error={failure || list.error} />
      {list.data && list.data.count === 0 && <p role="status">No waivers yet.</p>}
      {list.data && list.data.count > 0 && (
        <div className={ui.tableWrap}>
          <table className={ui.table}>
            <caption className={ui.visuallyHidden}>Waivers, newest first</caption>
            <thead><tr><th scope="col">#</th><th scope="col">Covers</th><th scope="col">Reason</th><th scope="col">State</th>
              <th scope="col">Expires</th><th scope="col">Created by</th><th scope="col">Approved by</th>
              {officer && <th scope="col">Actions</th>}</tr></thead>
            <tbody>
              {list.data.results.map((w) => (
                <tr key={w.id}>
                  <td>{w.id}</td><td>{covers(w)}</td><td>{w.reason}</td><td>{STATE_LABELS[w.state] || w.state}</td>
                  <td>{formatTime(w.expires_at)}</td><td>{w.created_by}</td><td>{w.approved_by || '—'}</td>
                  {officer && (
                    <td>
                      {w.state === 'pending' && w.created_by !== me.username && (
                        <button type="button" className={ui.button} onClick={() => act(w, 'approve')} aria-label={`Approve waiver ${w.id}`}>Approve</button>
                      )}
                      {w.state === 'pending' && w.created_by === me.username && <span className={ui.small}>Needs another officer</span>}
                      {(w.state === 'pending' || w.state === 'active') && (
                        <button type="button" className={`${ui.button} ${ui.danger}`} onClick={() => act(w, 'revoke')} aria-label={`Revoke waiver ${w.id}`}>Revoke</button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data && <Pager page={page} count={list.data.count} pageSize={PAGE_SIZE} onPage={setPage} label="Waiver pages" />}
    </section>
  );
}
