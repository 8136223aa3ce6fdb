// Model + version-or-alias + environment: the fields the request form and the dry run share.
import { Field, ui } from './common.jsx';
import { ModelNameInput, VersionTable, chainProblem, useCatalog } from './ModelPicker.jsx';

export function emptyReference(query) {
  return {
    modelName: query?.get('model') || '', committedName: query?.get('model') || '',
    refKind: query?.get('alias') ? 'alias' : 'version', version: query?.get('version') || '',
    alias: query?.get('alias') || '', environment: query?.get('environment') || '',
  };
}

export function ReferenceFields({ value, onChange, errors, environments, envField, envLabel, showChain }) {
  const catalog = useCatalog(value.committedName);
  // Functional: a change may land after another (a blur, then a click) and must not undo it.
  const set = (changes) => onChange((current) => ({ ...current, ...changes }));
  const aliasVersion = value.refKind === 'alias' ? catalog.data?.aliases?.[value.alias.replace(/^@/, '')] : null;
  const version = value.refKind === 'alias' ? aliasVersion : value.version;
  const problem = showChain && catalog.data ? chainProblem(catalog.data, value.environment, version) : null;
  const aliases = Object.entries(catalog.data?.aliases || {});
  return (
    <>
      <ModelNameInput value={value.modelName} errors={errors.model_name}
                      onChange={(name, committed) => set(committed ? { modelName: name, committedName: name.trim() } : { modelName: name })} />
      {catalog.error && catalog.error.status !== 404 && <p className={ui.hint} role="status">Versions could not be listed: {catalog.error.message}</p>}
      {catalog.error?.status === 404 && <p className={ui.fieldError}>{catalog.error.message}</p>}
      <fieldset className={ui.fieldset}>
        <legend className={ui.legend}>Which version</legend>
        <label className={ui.choice}>
          <input type="radio" name="refKind" value="version" checked={value.refKind === 'version'} onChange={() => set({ refKind: 'version' })} />
          A version number
        </label>
        <label className={ui.choice}>
          <input type="radio" name="refKind" value="alias" checked={value.refKind === 'alias'} onChange={() => set({ refKind: 'alias' })} />
          An alias (resolved when the request is processed)
        </label>
        {value.refKind === 'version' ? (
          <Field label="Version" errors={errors.model_version} hint="A registry version number, such as 3.">
            {(p) => <input {...p} className={ui.input} inputMode="numeric" value={value.version} onChange={(e) => set({ version: e.target.value.trim() })} />}
          </Field>
        ) : (
          <Field label="Alias" errors={errors.model_alias}
                 hint={aliases.length ? `This model's aliases: ${aliases.map(([a, v]) => `@${a} → ${v}`).join(', ')}` : 'Such as champion or @champion.'}>
            {(p) => <input {...p} className={ui.input} list={aliases.length ? 'gateway-aliases' : undefined} value={value.alias} onChange={(e) => set({ alias: e.target.value.trim() })} />}
          </Field>
        )}
        {aliases.length > 0 && (
          <datalist id="gateway-aliases">{aliases.map(([a]) => <option key={a} value={a} />)}</datalist>
        )}
        {(errors.non_field_errors || []).map((m) => <p key={m} className={ui.fieldError}>{m}</p>)}
      </fieldset>
      <fieldset className={ui.fieldset} aria-describedby={errors[envField] || problem ? 'gateway-env-error' : undefined}>
        <legend className={ui.legend}>{envLabel}</legend>
        {environments.map((env) => (
          <div key={env.name} className={ui.choice}>
            <input type="radio" id={`${envField}-${env.name}`} name={envField} value={env.name}
                   checked={value.environment === env.name} aria-describedby={`${envField}-${env.name}-about`}
                   onChange={() => set({ environment: env.name })} />
            <label htmlFor={`${envField}-${env.name}`}><strong>{env.name}</strong></label>
            <span id={`${envField}-${env.name}-about`} className={ui.muted}>
              {env.description}{env.requires_success_in ? ` Needs a success in ${env.requires_success_in} first.` : ''}
            </span>
          </div>
        ))}
        {(errors[envField] || problem) && (
          <p id="gateway-env-error" className={ui.fieldError}>{(errors[envField] || []).join(' ') || problem}</p>
        )}
      </fieldset>
      {catalog.data && catalog.data.versions.length > 0 && (
        <VersionTable catalog={catalog.data} environment={value.environment}
                      onPick={(v) => set({ refKind: 'version', version: v })} />
      )}
    </>
  );
}
