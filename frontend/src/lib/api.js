// The gateway's API, as the portal calls it: session cookie + CSRF header, JSON both ways.

export class ApiError extends Error {
  constructor(status, data) {
    super(ApiError.describe(status, data));
    this.status = status;
    this.data = data;
  }

  /** Field name -> list of messages, for errors shown next to their field. */
  get fieldErrors() {
    if (this.status !== 400 || !this.data || typeof this.data !== 'object' || Array.isArray(this.data)) return {};
    const out = {};
    for (const [key, value] of Object.entries(this.data)) {
      if (key === 'detail') continue;
      out[key] = Array.isArray(value) ? value.map(String) : [String(value)];
    }
    return out;
  }

  static describe(status, data) {
    if (status === 0) return 'The gateway could not be reached. Check your connection and try again.';
    if (status === 401 || (status === 403 && /credentials were not provided/i.test(data?.detail || ''))) {
      return 'Your session has ended. Sign in again.';
    }
    if (data && typeof data.detail === 'string') return data.detail;
    if (data && Array.isArray(data.non_field_errors)) return data.non_field_errors.join(' ');
    if (status === 400) return 'Some fields need attention.';
    if (status === 429) return 'Too many requests; wait a moment and try again.';
    if (status >= 500) return `The gateway had a problem (HTTP ${status}). Try again shortly.`;
    return `Request failed (HTTP ${status}).`;
  }
}

function cookie(name) {
  const match = document.cookie.split('; ').find((c) => c.startsWith(`${name}=`));
  return match ? decodeURIComponent(match.slice(name.length + 1)) : '';
}

export function createApi(base = '', fetchImpl = (...args) => globalThis.fetch(...args)) {
  async function request(method, path, { body, etag, headers = {}, signal } = {}) {
    const h = { Accept: 'application/json', ...headers };
    if (method !== 'GET') {
      h['Content-Type'] = 'application/json';
      h['X-CSRFToken'] = cookie('csrftoken');
    }
    if (etag) h['If-None-Match'] = etag;
    let res;
    try {
      res = await fetchImpl(base + path, {
        method, headers: h, credentials: 'same-origin', signal,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (err?.name === 'AbortError') throw err;
      throw new ApiError(0, null);
    }
    if (res.status === 304) return { status: 304, data: null, etag };
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: `Unexpected answer (HTTP ${res.status}).` };
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return { status: res.status, data, etag: res.headers.get('ETag') };
  }

  return {
    get: (path, opts) => request('GET', path, opts),
    post: (path, body, opts = {}) => request('POST', path, { ...opts, body: body ?? {} }),
  };
}

/** `?a=1&b=2` from an object; arrays repeat the key; empty values are left out. */
export function queryString(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null && v !== '' && v !== false) q.append(key, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
