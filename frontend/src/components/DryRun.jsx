// "Would this pass?": the decision a release would get today, in any environment. Nothing is stored.
import { useState } from 'react';
import { usePortal, useResource } from '../lib/hooks.js';
import { referenceBody, referenceErrors } from '../lib/validation.js';
import { Alert, ErrorAlert, showError, ui } from './common.jsx';
import { PolicyDecision } from './Decision.jsx';
import { DependencyLock } from './DependencyLock.jsx';
import { ModelFiles } from './ModelFiles.jsx';
import { LocalFindings, SeverityChart } from './Findings.jsx';
import { ReferenceFields, emptyReference } from './ReferenceFields.jsx';

export function DryRun() {
  const { api, me } = usePortal();
  const envs = useResource('/api/environments/');
  const [value, setValue] = useState(() => emptyReference());
  const [errors, setErrors] = useState({});
  const [failure, setFailure] = useState(null);
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  if (!me.can_request) return <Alert kind="info">Only requesters may run the policy dry run.</Alert>;
  const submit = async (e) => {
    e.preventDefault();
    setFailure(null);
    const found = referenceErrors(value, 'environment');
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    setResult(null);
    try {
      setResult((await api.post('/api/policy/evaluate/', referenceBody(value, 'environment'))).data);
    } catch (err) {
      showError(err, setErrors, setFailure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="dry-run-title">
      <h1 id="dry-run-title" className={ui.h1}>Would this pass?</h1>
      <p className={ui.muted}>Fetches the model&apos;s environment files, scans them and applies the environment&apos;s policy as it is today. Nothing is stored.</p>
      <form className={ui.card} onSubmit={submit} noValidate>
        <ErrorAlert error={failure} />
        <ReferenceFields value={value} onChange={setValue} errors={errors} environments={envs.data || []}
                         envField="environment" envLabel="Environment" showChain={false} />
        <button type="submit" className={`${ui.button} ${ui.primary}`} disabled={busy}>{busy ? 'Checking…' : 'Check'}</button>
      </form>
      {result && (
        <section className={ui.card} aria-labelledby="dry-run-result" aria-live="polite">
          <h2 id="dry-run-result" className={ui.h2}>{result.model_name} version {result.model_version} in {result.environment}</h2>
          <PolicyDecision decision={result.decision} />
          <ModelFiles files={result.model_files} count={result.model_files_count} />
          <SeverityChart counts={result.scan.counts} possible={result.scan.possible_counts} />
          <DependencyLock lock={result.scan.dependency_lock} />
          <p className={ui.small}>{result.scan.dependencies.length} dependencies, {result.scan.findings_count} findings
            {result.scan.findings_count > result.scan.findings.length && ` (the ${result.scan.findings.length} most severe listed)`}.</p>
          <LocalFindings findings={result.scan.findings} />
        </section>
      )}
    </section>
  );
}
