// The approval stages of a release: who decided, what is still needed, and, for someone who may decide
// now, approve and reject with a comment. Whether the buttons show is the API's answer (can_decide);
// the decision endpoints check it again.
import { useState } from 'react';
import { formatTime } from '../lib/format.js';
import { usePortal } from '../lib/hooks.js';
import { Alert, ErrorAlert, Field, showError, ui } from './common.jsx';
import styles from './Detail.module.css';

export function ApprovalStages({ state }) {
  if (!state.stages.length) return <p className={ui.muted}>This environment needs no approval.</p>;
  return (
    <ol className={styles.stages}>
      {state.stages.map((stage) => (
        <li key={stage.order} className={styles.stage} aria-current={stage.open ? 'step' : undefined}>
          <p className={styles.stageTitle}>
            <span aria-hidden="true">{stage.satisfied ? '✔' : stage.open ? '▶' : '○'} </span>
            Stage {stage.order}: {stage.name} — <strong>{stage.satisfied ? 'satisfied' : stage.open ? 'open now' : 'not yet open'}</strong>
          </p>
          <ul className={ui.small}>
            {stage.rules.map((rule) => (
              <li key={rule.group}>
                {rule.approvals} of {rule.required} from <code>{rule.group}</code>
                {rule.still_needed > 0 ? ` — ${rule.still_needed} more needed` : ' — done'}
              </li>
            ))}
          </ul>
          {stage.approved_by.length > 0 && <p className={ui.small}>Approved by {stage.approved_by.join(', ')}</p>}
        </li>
      ))}
    </ol>
  );
}

export function Decisions({ decisions }) {
  if (!decisions.length) return null;
  return (
    <ul className={styles.decisions} aria-label="Decisions">
      {decisions.map((d) => (
        <li key={`${d.user}-${d.stage}`}>
          <strong>{d.user}</strong> {d.approved ? 'approved' : 'rejected'} at {d.stage}
          <span className={ui.muted}> · {formatTime(d.at)}</span>
          {d.comment && <q className={styles.comment}>{d.comment}</q>}
        </li>
      ))}
    </ul>
  );
}

export function DecisionForm({ releaseId, onDecided }) {
  const { api } = usePortal();
  const [comment, setComment] = useState('');
  const [errors, setErrors] = useState({});
  const [failure, setFailure] = useState(null);
  const [busy, setBusy] = useState(false);
  const decide = async (approve) => {
    setFailure(null);
    if (!approve && !comment.trim()) {
      setErrors({ comment: ['A rejection needs a comment saying why.'] });
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const res = await api.post(`/api/releases/${releaseId}/${approve ? 'approve' : 'reject'}/`, { comment });
      setComment('');
      onDecided(res.data);
    } catch (err) {
      showError(err, setErrors, setFailure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className={styles.decide} onSubmit={(e) => e.preventDefault()} aria-label="Your decision">
      <ErrorAlert error={failure} />
      <Field label="Comment" errors={errors.comment} hint="Required to reject; shown to everyone on this release.">
        {(p) => <textarea {...p} className={ui.textarea} maxLength={2000} value={comment} onChange={(e) => setComment(e.target.value)} />}
      </Field>
      <div className={ui.row}>
        <button type="button" className={`${ui.button} ${ui.primary}`} disabled={busy} onClick={() => decide(true)}>Approve</button>
        <button type="button" className={`${ui.button} ${ui.danger}`} disabled={busy} onClick={() => decide(false)}>Reject</button>
      </div>
    </form>
  );
}

export function ApprovalsPanel({ releaseId, state, onDecided }) {
  if (!state) return null;
  return (
    <section className={ui.card} aria-labelledby="approvals-title">
      <h2 id="approvals-title" className={ui.h2}>Approvals</h2>
      <ApprovalStages state={state} />
      <Decisions decisions={state.decisions} />
      {state.can_decide
        ? <DecisionForm releaseId={releaseId} onDecided={onDecided} />
        : state.status === 'AWAITING_APPROVAL' && state.reason && <Alert kind="info">You cannot decide: {state.reason}</Alert>}
    </section>
  );
}
