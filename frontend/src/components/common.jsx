// Small shared components: fields with their errors, alerts, badges, pagination.
import { useId } from 'react';
import { SEVERITIES, STATUS_LABELS } from '../lib/format.js';
import styles from './ui.module.css';

export function Field({ label, hint, errors, children, id: givenId }) {
  const autoId = useId();
  const id = givenId || autoId;
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = errors?.length ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={styles.field}>
      <label className={styles.label} htmlFor={id}>{label}</label>
      {children({ id, 'aria-describedby': describedBy, 'aria-invalid': errorId ? 'true' : undefined })}
      {hint && <span id={hintId} className={styles.hint}>{hint}</span>}
      {errorId && <p id={errorId} className={styles.fieldError}>{errors.join(' ')}</p>}
    </div>
  );
}

/** An API error where it belongs: field errors next to their fields, anything else in the form's alert. */
export function showError(err, setErrors, setFailure) {
  const fields = err?.fieldErrors || {};
  if (Object.keys(fields).length) setErrors(fields);
  else setFailure(err);
}

export function Alert({ kind = 'error', children }) {
  const cls = { error: styles.alertError, info: styles.alertInfo, ok: styles.alertOk, warn: styles.alertWarn }[kind];
  return <div className={`${styles.alert} ${cls}`} role={kind === 'error' ? 'alert' : 'status'}>{children}</div>;
}

export function ErrorAlert({ error }) {
  if (!error) return null;
  const ended = error.status === 401 || (error.status === 403 && /credentials/i.test(error.message));
  return (
    <Alert kind="error">
      {error.message}
      {ended && <> <a href={`/login/?next=${encodeURIComponent(window.location.pathname + window.location.search)}`}>Sign in</a></>}
    </Alert>
  );
}

const STATUS_TONES = {
  SUCCEEDED: ['toneOk', '✔'], SCAN_PASSED: ['toneOk', '✔'], APPROVED: ['toneOk', '✔'],
  SCAN_FAILED: ['toneBad', '✖'], REJECTED: ['toneBad', '✖'], BUILD_FAILED: ['toneBad', '✖'], FAILED: ['toneBad', '✖'],
  AWAITING_APPROVAL: ['toneWait', '⏸'],
  PENDING: ['toneWork', '…'], SCANNING_DEPENDENCIES: ['toneWork', '…'], BUILDING_IMAGE: ['toneWork', '…'],
  CANCELLED: ['toneNone', '–'],
};

/** A status as words (never colour alone), with a colour and a glyph as extra cues. */
export function StatusBadge({ status }) {
  const [tone, glyph] = STATUS_TONES[status] || ['toneNone', '•'];
  return (
    <span className={`${styles.badge} ${styles[tone]}`} data-status={status}>
      <span aria-hidden="true">{glyph}</span>{STATUS_LABELS[status] || status}
    </span>
  );
}

export function SeverityBadge({ severity }) {
  const level = SEVERITIES.includes(severity) ? severity : 'UNKNOWN';
  return <span className={`${styles.badge} ${styles[`sev${level}`]}`} data-severity={level}>{level}</span>;
}

export function Pager({ page, count, pageSize, onPage, label = 'Pages' }) {
  const pages = Math.max(1, Math.ceil((count || 0) / pageSize));
  if (pages <= 1) return null;
  return (
    <nav className={styles.pager} aria-label={label}>
      <button type="button" className={styles.button} disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>Page {page} of {pages}</span>
      <button type="button" className={styles.button} disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

export { styles as ui };
