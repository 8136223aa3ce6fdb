// A small router: 'history' mode on the gateway's own page (real URLs, filters kept in the query),
// 'memory' mode inside a host page, whose address bar belongs to the host. In an iframe (?embed=1)
// every address keeps embed=1, so a reload stays embeddable.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';

const RouterContext = createContext(null);

function split(to) {
  const [path, search = ''] = to.split('?');
  return { path: path || '/', search: search ? `?${search}` : '' };
}

export function Router({ mode = 'memory', basePath = '/', embed = false, initial = '/', children }) {
  const base = basePath.replace(/\/$/, '');
  const read = useCallback(() => {
    if (mode !== 'history') return null;
    const path = window.location.pathname.startsWith(base) ? window.location.pathname.slice(base.length) : '/';
    return { path: path || '/', search: window.location.search };
  }, [mode, base]);
  const [location, setLocation] = useState(() => read() || split(initial));

  useEffect(() => {
    if (mode !== 'history') return undefined;
    const onPop = () => setLocation(read());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, [mode, read]);

  const withEmbed = useCallback((to) => {
    if (!embed) return to;
    const { path, search } = split(to);
    const q = new URLSearchParams(search);
    q.set('embed', '1');
    return `${path}?${q.toString()}`;
  }, [embed]);

  const navigate = useCallback((to, { replace = false } = {}) => {
    const target = split(withEmbed(to));
    if (mode === 'history') {
      const url = base + target.path + target.search;
      if (replace) window.history.replaceState(null, '', url);
      else window.history.pushState(null, '', url);
    }
    setLocation(target);
  }, [mode, base, withEmbed]);

  const value = useMemo(() => ({
    path: location.path,
    query: new URLSearchParams(location.search),
    navigate,
    href: (to) => (mode === 'history' ? base + withEmbed(to) : `#${to}`),
  }), [location, navigate, mode, base, withEmbed]);
  return <RouterContext.Provider value={value}>{children}</RouterContext.Provider>;
}

export function useRouter() {
  return useContext(RouterContext);
}

export function Link({ to, children, ...rest }) {
  const { navigate, href, path } = useRouter();
  const onClick = (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(to);
  };
  const current = split(to).path === path ? 'page' : undefined;
  return <a href={href(to)} onClick={onClick} aria-current={rest['aria-current'] ?? current} {...rest}>{children}</a>;
}

/** Match `/releases/:id` style patterns; returns params or null. */
export function match(pattern, path) {
  const p = pattern.split('/').filter(Boolean);
  const s = path.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i += 1) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}
