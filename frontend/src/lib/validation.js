// The API's rules for a model reference (releases/validators.py), checked before sending so that a
// mistake is shown at once, next to its field. The server checks again and its messages win.

export const MODEL_NAME_MAX = 256;
export const ALIAS_MAX = 255;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9 ._-]*$/;
const VERSION_RE = /^[1-9][0-9]{0,9}$/;
const ALIAS_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const CONTROL_RE = /[\x00-\x1f\x7f]/;

export function modelNameError(value) {
  if (!value) return 'Model name is required.';
  if (value.length > MODEL_NAME_MAX) return `Model name must be at most ${MODEL_NAME_MAX} characters.`;
  if (CONTROL_RE.test(value)) return 'Model name must not contain control characters.';
  if (value.includes('/') || value.includes('\\') || value.includes('..')) {
    return "Model name must not contain '/', '\\' or '..'.";
  }
  if (value !== value.trim()) return 'Model name must not start or end with whitespace.';
  if (!NAME_RE.test(value)) {
    return "Model name may contain only letters, digits, spaces, '.', '-' and '_', and must start with a letter or digit.";
  }
  return null;
}

export function versionError(value) {
  return VERSION_RE.test(value || '') ? null : 'Model version must be a positive integer (MLflow registry version).';
}

export function aliasError(value) {
  const alias = (value || '').startsWith('@') ? value.slice(1) : value || '';
  if (!alias) return 'Model alias is required.';
  if (alias.length > ALIAS_MAX) return `Model alias must be at most ${ALIAS_MAX} characters.`;
  if (!ALIAS_RE.test(alias)) {
    return "Model alias may contain only letters, digits, '-' and '_', and must start with a letter or '_'.";
  }
  return null;
}

/** Errors of a release request (or dry run) keyed like the API's: model_name, model_version, ... */
export function referenceErrors({ modelName, refKind, version, alias, environment }, envField = 'target_environment') {
  const errors = {};
  const name = modelNameError(modelName);
  if (name) errors.model_name = [name];
  if (refKind === 'alias') {
    const a = aliasError(alias);
    if (a) errors.model_alias = [a];
  } else {
    const v = versionError(version);
    if (v) errors.model_version = [v];
  }
  if (!environment) errors[envField] = ['Choose an environment.'];
  return errors;
}

export function referenceBody({ modelName, refKind, version, alias, environment }, envField = 'target_environment') {
  const body = { model_name: modelName, [envField]: environment };
  if (refKind === 'alias') body.model_alias = alias.startsWith('@') ? alias.slice(1) : alias;
  else body.model_version = version;
  return body;
}
