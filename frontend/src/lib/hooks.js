import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';

/** { api, me, options }: given once by App. */
export const PortalContext = createContext(null);

export function usePortal() {
  return useContext(PortalContext);
}

/** GET `path` (null: nothing yet). Returns { data, error, loading, reload }. */
export function useResource(path) {
  const { api } = usePortal();
  const [state, setState] = useState({ data: null, error: null, loading: Boolean(path) });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!path) {
      setState({ data: null, error: null, loading: false });
      return undefined;
    }
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    api.get(path, { signal: controller.signal }).then(
      (res) => setState({ data: res.data, error: null, loading: false }),
      (error) => {
        if (error?.name !== 'AbortError') setState({ data: null, error, loading: false });
      },
    );
    return () => controller.abort();
  }, [api, path, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/**
 * Follow `path` live: poll every `seconds` with If-None-Match, so an unchanged resource costs a 304 with
 * no body. Pauses while the page is hidden and when `active` is false. Returns { data, error, version },
 * where `version` counts the changes seen (dependants refetch when it moves). `stopWhen(data)` true: the
 * resource will not change again (a release that has ended), so polling stops.
 */
export function usePolled(path, { seconds = 2, active = true, stopWhen = null } = {}) {
  const { api } = usePortal();
  // Read at answer time, so a resource that has ended stops the polling without waiting for a render.
  const stopRef = useRef(stopWhen);
  stopRef.current = stopWhen;
  const [state, setState] = useState({ data: null, error: null, version: 0 });
  const etag = useRef(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    etag.current = null;
    setState({ data: null, error: null, version: 0 });
  }, [path]);

  useEffect(() => {
    let stopped = false;
    let timer = null;
    const controller = new AbortController();
    async function poll() {
      timer = null;
      if (stopped) return;
      if (typeof document !== 'undefined' && document.hidden) {
        timer = setTimeout(poll, seconds * 1000);
        return;
      }
      try {
        const res = await api.get(path, { etag: etag.current, signal: controller.signal });
        if (stopped) return;
        if (res.status !== 304) {
          etag.current = res.etag;
          setState((s) => ({ data: res.data, error: null, version: s.version + 1 }));
          if (stopRef.current?.(res.data)) return;
        } else {
          setState((s) => (s.error ? { ...s, error: null } : s));
        }
      } catch (error) {
        if (stopped || error?.name === 'AbortError') return;
        setState((s) => ({ ...s, error }));
      }
      if (!stopped && active) timer = setTimeout(poll, seconds * 1000);
    }
    poll();
    const onVisible = () => {
      if (!document.hidden && active && timer) {
        clearTimeout(timer);
        poll();
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      controller.abort();
      if (timer) clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [api, path, seconds, active, tick]);

  const refresh = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, refresh };
}

/** `value`, once it has not changed for `ms`. */
export function useDebounced(value, ms = 200) {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return debounced;
}
