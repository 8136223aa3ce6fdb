// Request a release: checked here as the API checks it, then the API's own errors shown by their fields.
import { useRef, useState } from 'react';
import { usePortal, useResource } from '../lib/hooks.js';
import { useRouter } from '../lib/router.jsx';
import { referenceBody, referenceErrors } from '../lib/validation.js';
import { Alert, ErrorAlert, showError, ui } from './common.jsx';
import { ReferenceFields, emptyReference } from './ReferenceFields.jsx';

function newKey() {
  return globalThis.crypto?.randomUUID ? globalThis.crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

export function RequestForm() {
  const { api, me } = usePortal();
  const { navigate, query } = useRouter();
  const envs = useResource('/api/environments/');
  const [value, setValue] = useState(() => emptyReference(query));
  const [errors, setErrors] = useState({});
  const [failure, setFailure] = useState(null);
  const [busy, setBusy] = useState(false);
  // One key per intended release: a double click or a retried POST gives back the same release.
  const key = useRef(newKey());

  if (!me.can_request) {
    return <Alert kind="info">Only requesters may request releases (group &apos;requesters&apos;).</Alert>;
  }

  const onChange = (update) => {
    key.current = newKey(); // a different request deserves a different key
    setValue(update);
  };

  const submit = async (event) => {
    event.preventDefault();
    setFailure(null);
    const found = referenceErrors(value);
    setErrors(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      const res = await api.post('/api/releases/', referenceBody(value), { headers: { 'Idempotency-Key': key.current } });
      navigate(`/releases/${res.data.id}`);
    } catch (err) {
      // A promotion refusal (409) is about the chosen environment: shown there.
      if (err.status === 409) setErrors({ target_environment: [err.message] });
      else showError(err, setErrors, setFailure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="request-title">
      <h1 id="request-title" className={ui.h1}>Request a release</h1>
      <form className={ui.card} onSubmit={submit} noValidate>
        <ErrorAlert error={failure} />
        {Object.keys(errors).length > 0 && <p className={ui.fieldError} role="alert">Some fields need attention.</p>}
        <ReferenceFields value={value} onChange={onChange} errors={errors} environments={envs.data || []}
                         envField="target_environment" envLabel="Target environment" showChain />
        <button type="submit" className={`${ui.button} ${ui.primary}`} disabled={busy}>
          {busy ? 'Requesting…' : 'Request release'}
        </button>
      </form>
    </section>
  );
}
