// The release's dependency lock in one line: what was resolved and shipped, or why there is none.
import { ui } from './common.jsx';

export function DependencyLock({ lock }) {
  if (!lock) return null;
  if (lock.outcome === 'resolved') {
    return (
      <p className={ui.small}>
        Dependency lock: {lock.packages} packages for Python {lock.python_version} ({lock.platform}), installed
        exactly by the image · sha256 <span className={ui.mono}>{lock.sha256.slice(0, 12)}…</span>
      </p>
    );
  }
  const why = lock.outcome === 'unresolvable' ? 'the dependencies cannot be resolved' : 'not resolved';
  return (
    <p className={ui.small}>
      Dependency lock: none — {why}{lock.reason ? `: ${lock.reason}` : ''}.
      {' '}Declared requirements are scanned as declared.
    </p>
  );
}
