// One release at a glance: where it is, why, and what happens next. Followed live: the release is polled
// with If-None-Match (a 304 while nothing changed); when it changes, the approvals and scan are refetched.
import { useEffect, useState } from 'react';
import { IN_PROGRESS, TERMINAL, formatBytes, formatTime, nextStep } from '../lib/format.js';
import { usePolled, usePortal, useResource } from '../lib/hooks.js';
import { Link } from '../lib/router.jsx';
import { ApprovalsPanel } from './Approvals.jsx';
import { Alert, ErrorAlert, Field, StatusBadge, ui } from './common.jsx';
import { PolicyDecision, WaiversApplied } from './Decision.jsx';
import { DependencyLock } from './DependencyLock.jsx';
import { ModelFiles } from './ModelFiles.jsx';
import styles from './Detail.module.css';
import { ServerFindings, SeverityChart } from './Findings.jsx';

function Timeline({ events, total }) {
  return (
    <section className={ui.card} aria-labelledby="timeline-title">
      <h2 id="timeline-title" className={ui.h2}>Timeline</h2>
      {total > events.length && (
        <p className={`${ui.small} ${ui.muted}`}>The newest {events.length} of {total} events.</p>
      )}
      <ol className={styles.timeline}>
        {events.map((e) => (
          <li key={e.id} className={styles.event}>
            <div className={styles.eventMeta}>
              {formatTime(e.created_at)} · {e.actor}
              {e.to_status && e.from_status !== e.to_status && <> · {e.from_status ? `${e.from_status} → ` : ''}{e.to_status}</>}
            </div>
            <div>{e.message}</div>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Actions({ release, onDone }) {
  const { api, me } = usePortal();
  const [reason, setReason] = useState('');
  const [rebuildReason, setRebuildReason] = useState('');
  const [failure, setFailure] = useState(null);
  const [busy, setBusy] = useState(false);
  const mayManage = me.username === release.requested_by || me.can_manage_any;
  const canCancel = mayManage && !TERMINAL.has(release.status);
  const canRetry = mayManage && (release.status === 'FAILED' || release.status === 'BUILD_FAILED');
  // The API's rule (services.rebuild_release): only after a build or promotion failed, with a reason.
  const canRebuild = mayManage && (release.status === 'BUILD_FAILED'
    || (release.status === 'FAILED' && release.failed_step === 'build'));
  if (!canCancel && !canRetry && !canRebuild) return null;
  const act = async (action, body) => {
    setBusy(true);
    setFailure(null);
    try {
      await api.post(`/api/releases/${release.id}/${action}/`, body);
      setReason('');
      setRebuildReason('');
      onDone();
    } catch (err) {
      setFailure(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className={ui.card} aria-labelledby="actions-title">
      <h2 id="actions-title" className={ui.h2}>Actions</h2>
      <ErrorAlert error={failure} />
      <div className={styles.actions}>
        {canRetry && (
          <button type="button" className={`${ui.button} ${ui.primary}`} disabled={busy} onClick={() => act('retry')}>
            Retry {release.status === 'BUILD_FAILED' ? 'the build' : `step ${release.failed_step}`}
          </button>
        )}
        {canRebuild && (
          <>
            <p className={ui.muted}>
              Rebuild builds this release&apos;s image afresh here instead of retrying (for example when the image it
              would promote is gone from the registry). It is scanned and approved again first.
            </p>
            <Field label="Reason for the rebuild (required, audited)">
              {(p) => <input {...p} className={ui.input} maxLength={1000} value={rebuildReason}
                             onChange={(e) => setRebuildReason(e.target.value)} />}
            </Field>
            <button type="button" className={ui.button} disabled={busy || !rebuildReason.trim()}
                    style={{ marginBottom: '14px' }}
                    onClick={() => act('rebuild', { reason: rebuildReason })}>Rebuild the image</button>
          </>
        )}
        {canCancel && (
          <>
            <Field label="Reason for cancelling (optional)">
              {(p) => <input {...p} className={ui.input} maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} />}
            </Field>
            <button type="button" className={`${ui.button} ${ui.danger}`} disabled={busy} style={{ marginBottom: '14px' }}
                    onClick={() => act('cancel', { reason })}>Cancel release</button>
          </>
        )}
      </div>
    </section>
  );
}

function ScanPanel({ release, version }) {
  const scan = useResource(release.latest_scan ? `/api/releases/${release.id}/scan/?v=${release.latest_scan.id}` : null);
  if (!release.latest_scan) {
    return (
      <section className={ui.card} aria-labelledby="scan-title">
        <h2 id="scan-title" className={ui.h2}>Scan report</h2>
        <p className={ui.muted}>Not scanned yet.</p>
      </section>
    );
  }
  const report = scan.data;
  return (
    <section className={ui.card} aria-labelledby="scan-title">
      <h2 id="scan-title" className={ui.h2}>Scan report</h2>
      <ErrorAlert error={scan.error} />
      {report && (
        <>
          <p className={`${ui.small} ${ui.muted}`}>
            {report.scanner} {report.scanner_version} · advisories as of {formatTime(report.advisory_snapshot_at)}
            {' '}(sync #{report.advisory_sync ?? '—'}) · {report.dependencies_count ?? report.dependencies.length} dependencies · {report.findings_count} findings
            {' '}· scanned {formatTime(report.created_at)}
          </p>
          <DependencyLock lock={report.dependency_lock} />
          <div className={ui.grid2}>
            <SeverityChart counts={report.counts} possible={report.possible_counts} />
            <WaiversApplied decision={report.decision} />
          </div>
          <h3 className={ui.h3}>Policy decision</h3>
          <PolicyDecision decision={report.decision} />
          <ModelFiles files={report.model_files} count={report.model_files_count} />
          {report.issues?.length > 0 && (
            <>
              <h3 className={ui.h3}>Scanner notes{report.issues_count > 100 ? ` (the first 100 of ${report.issues_count})` : ''}</h3>
              <ul className={styles.reasons}>{report.issues.slice(0, 100).map((n, i) => <li key={i}>{typeof n === 'string' ? n : n.message || JSON.stringify(n)}</li>)}</ul>
            </>
          )}
          <h3 className={ui.h3}>Findings</h3>
          <ServerFindings releaseId={release.id} version={`${report.id}-${version}`} />
        </>
      )}
    </section>
  );
}

function Image({ release }) {
  if (!release.image_reference && !release.image_digest) return null;
  return (
    <section className={ui.card} aria-labelledby="image-title">
      <h2 id="image-title" className={ui.h2}>Image</h2>
      <dl className={styles.facts}>
        <dt>Reference</dt><dd className={ui.mono}>{release.image_reference || '—'}</dd>
        <dt>Digest</dt><dd className={ui.mono} data-testid="image-digest">{release.image_digest || '—'}</dd>
      </dl>
    </section>
  );
}

function Files({ files }) {
  if (!files?.length) return null;
  return (
    <section className={ui.card} aria-labelledby="files-title">
      <h2 id="files-title" className={ui.h2}>Environment files fetched from MLflow</h2>
      <div className={ui.tableWrap}>
        <table className={ui.table}>
          <thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">SHA-256</th></tr></thead>
          <tbody>{files.map((f) => (
            <tr key={f.name}><td className={ui.mono}>{f.name}</td><td>{formatBytes(f.size)}</td><td className={ui.mono}>{f.sha256}</td></tr>
          ))}</tbody>
        </table>
      </div>
    </section>
  );
}

const hasEnded = (release) => TERMINAL.has(release.status);

export function ReleaseDetail({ id }) {
  const { api, options } = usePortal();
  // Polled until the release has ended (SUCCEEDED, REJECTED, CANCELLED): nothing changes after that.
  const live = usePolled(`/api/releases/${id}/`, { seconds: options.pollSeconds || 2, stopWhen: hasEnded });
  const release = live.data;
  const [approvals, setApprovals] = useState(null);
  useEffect(() => {
    if (!release) return undefined;
    const controller = new AbortController();
    api.get(`/api/releases/${id}/approvals/`, { signal: controller.signal }).then((res) => setApprovals(res.data), () => {});
    return () => controller.abort();
  }, [api, id, live.version]); // live.version: refetch whenever the release changed

  if (live.error && !release) return <ErrorAlert error={live.error} />;
  if (!release) return <p role="status">Loading release {id}…</p>;
  return (
    <article aria-labelledby="release-title">
      <p className={ui.small}><Link to="/releases">← All releases</Link></p>
      <div className={styles.head}>
        <h1 id="release-title" className={ui.h1}>#{release.id} {release.model_name} {release.model_version ? `v${release.model_version}` : release.requested_ref} → {release.environment}</h1>
        <span aria-live="polite" aria-atomic="true"><StatusBadge status={release.status} /></span>
      </div>
      <section className={ui.card} aria-label="Where it is">
        {release.status_message && <p>{release.status_message}</p>}
        <p className={styles.next}><strong>Next:</strong> {nextStep(release)}</p>
        {live.error && <Alert kind="warn">Live updates paused: {live.error.message} Retrying…</Alert>}
        {IN_PROGRESS.has(release.status) && <p className={`${ui.small} ${ui.muted}`}>This page updates by itself.</p>}
        <dl className={styles.facts}>
          <dt>Requested</dt><dd>{release.requested_ref} by {release.requested_by} · {formatTime(release.created_at)}</dd>
          <dt>MLflow run</dt><dd className={ui.mono}>{release.mlflow_run_id || '—'}</dd>
          {release.failed_step && <><dt>Failed step</dt><dd>{release.failed_step}</dd></>}
        </dl>
      </section>
      <Image release={release} />
      <Actions release={release} onDone={live.refresh} />
      <ApprovalsPanel releaseId={release.id} state={approvals} onDecided={(state) => { setApprovals(state); live.refresh(); }} />
      <ScanPanel release={release} version={live.version} />
      <Timeline events={release.events} total={release.events_count ?? release.events.length} />
      <Files files={release.files} />
    </article>
  );
}
