// The model half of a request: a name that autocompletes from MLflow (through the gateway), then a
// version or an alias chosen from that model's own, with what each environment's chain allows.
import { useEffect, useId, useState } from 'react';
import { formatTime } from '../lib/format.js';
import { useDebounced, usePortal, useResource } from '../lib/hooks.js';
import { modelNameError } from '../lib/validation.js';
import { Field, ui } from './common.jsx';
import styles from './ModelPicker.module.css';

export function ModelNameInput({ value, onChange, errors }) {
  const { api } = usePortal();
  const listId = useId();
  const [open, setOpen] = useState(false);
  // The highlighted option by name, not position: an answer that arrives after the user moved the
  // highlight (the debounced query's) keeps it on the same model when that model is still listed.
  const [activeName, setActiveName] = useState(null);
  const [fetched, setOptions] = useState([]);
  const [status, setStatus] = useState('');
  const query = useDebounced(value, 150);

  useEffect(() => {
    if (!open || (query && modelNameError(query.trim()) && query.trim() !== '')) return undefined;
    const controller = new AbortController();
    api.get(`/api/models/?q=${encodeURIComponent(query.trim())}`, { signal: controller.signal }).then(
      (res) => { setOptions(res.data.results); setStatus(`${res.data.results.length} models found`); },
      (err) => { if (err?.name !== 'AbortError') { setOptions([]); setStatus(err.message); } },
    );
    return () => controller.abort();
  }, [api, query, open]);

  // Answers arrive after the typing: show only those that still match what is typed now.
  const options = fetched.filter((name) => name.toLowerCase().includes(value.trim().toLowerCase()));
  const active = options.indexOf(activeName);
  const choose = (name) => { onChange(name, true); setOpen(false); };
  const onKeyDown = (e) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault(); setOpen(true);
      if (options.length) setActiveName(options[Math.min(options.length - 1, active + 1)]);
    } else if (e.key === 'ArrowUp') { e.preventDefault(); if (options.length) setActiveName(options[Math.max(0, active - 1)]); }
    else if (e.key === 'Enter' && open && active >= 0 && options[active]) { e.preventDefault(); choose(options[active]); }
    else if (e.key === 'Escape') setOpen(false);
  };
  const expanded = open && options.length > 0;
  return (
    <Field label="Model name" errors={errors} hint="As registered in the MLflow Model Registry.">
      {(p) => (
        <div className={styles.combo}>
          <input {...p} className={ui.input} role="combobox" aria-autocomplete="list" aria-expanded={expanded}
                 aria-controls={listId} autoComplete="off" value={value} spellCheck="false"
                 aria-activedescendant={expanded && active >= 0 ? `${listId}-${active}` : undefined}
                 onChange={(e) => { onChange(e.target.value, false); setOpen(true); }}
                 onFocus={() => setOpen(true)} onKeyDown={onKeyDown}
                 onBlur={(e) => { const typed = e.currentTarget.value; setOpen(false); onChange(typed, true); }} />
          <ul id={listId} role="listbox" aria-label="Matching models" className={styles.listbox} hidden={!expanded}>
            {options.map((name, i) => (
              <li key={name} id={`${listId}-${i}`} role="option" aria-selected={i === active}
                  className={i === active ? styles.activeOption : styles.option}
                  onMouseDown={(e) => { e.preventDefault(); choose(name); }}>{name}</li>
            ))}
          </ul>
          <span className={ui.visuallyHidden} aria-live="polite">{open ? status : ''}</span>
        </div>
      )}
    </Field>
  );
}

/** Versions and aliases of `name`, and per environment what the promotion chain allows. */
export function useCatalog(name) {
  const valid = name && !modelNameError(name);
  return useResource(valid ? `/api/models/${encodeURIComponent(name)}/` : null);
}

export function VersionTable({ catalog, onPick, environment }) {
  if (!catalog) return null;
  const envs = catalog.environments || [];
  const allowedIn = (env, version) => env.any_version || env.allowed_versions.includes(version);
  return (
    <div className={ui.tableWrap}>
      <table className={ui.table}>
        <caption className={styles.caption}>Versions of {catalog.name} (newest first)</caption>
        <thead>
          <tr>
            <th scope="col">Version</th><th scope="col">Aliases</th><th scope="col">Registered</th>
            {envs.map((env) => <th scope="col" key={env.name}>{env.name}</th>)}
            <th scope="col"><span className={ui.visuallyHidden}>Choose</span></th>
          </tr>
        </thead>
        <tbody>
          {catalog.versions.map((v) => (
            <tr key={v.version} className={environment && envs.find((e) => e.name === environment && !allowedIn(e, v.version)) ? styles.notAllowed : undefined}>
              <td>{v.version}</td>
              <td>{v.aliases.map((a) => <code key={a} className={styles.alias}>@{a}</code>)}</td>
              <td>{formatTime(v.created_at)}</td>
              {envs.map((env) => (
                <td key={env.name}>
                  {allowedIn(env, v.version)
                    ? <span><span aria-hidden="true">✔ </span>allowed</span>
                    : env.soaking[v.version]
                      ? <span><span aria-hidden="true">⏳ </span>soaking until {formatTime(env.soaking[v.version])}</span>
                      : <span className={ui.muted}><span aria-hidden="true">✖ </span>needs {env.requires_success_in} first</span>}
                </td>
              ))}
              <td><button type="button" className={ui.linkButton} onClick={() => onPick(v.version)}
                          aria-label={`Use version ${v.version}`}>Use</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      {catalog.versions.length >= catalog.versions_limit && (
        <p className={ui.hint}>Only the newest {catalog.versions_limit} versions are listed; type an older one.</p>
      )}
    </div>
  );
}

/** Why the chosen version cannot go to `environment` today, or null. */
export function chainProblem(catalog, environment, version) {
  const env = catalog?.environments?.find((e) => e.name === environment);
  if (!env || env.any_version || !version) return null;
  if (env.allowed_versions.includes(version)) return null;
  if (env.soaking[version]) {
    return `${environment} requires version ${version} to soak in ${env.requires_success_in} until ${formatTime(env.soaking[version])}.`;
  }
  return `${environment} requires a SUCCEEDED release of ${catalog.name} version ${version} in ${env.requires_success_in} first.`
    + (env.allowed_versions.length ? ` Allowed today: ${env.allowed_versions.join(', ')}.` : '');
}
