// The model's own files as the gateway scanned them: per file its verdict, size and SHA-256 (what the build
// checks), and each import and call found with its classification. Expected ones show what code the model brings.
import { formatBytes } from '../lib/format.js';
import { ui } from './common.jsx';
import styles from './Detail.module.css';

const SHOWN = 20; // findings per file on the page; the API lists up to 50, and the file's row has the rest

function finding(f) {
  const where = f.member ? ` in ${f.member}` : '';
  const args = f.classification === 'expected' && f.args ? ` — ${f.args}` : '';
  return `${f.classification}: ${f.kind} ${f.name}${where}${f.count > 1 ? ` ×${f.count}` : ''}${args}`
    + (f.classification === 'expected' ? '' : ` (${f.reason})`);
}

export function ModelFiles({ files, count }) {
  if (!files?.length) return null;
  return (
    <section aria-labelledby="model-files-title">
      <h3 id="model-files-title" className={ui.h3}>
        Model files{count > files.length ? ` (the ${files.length} worst of ${count})` : ` (${files.length})`}
      </h3>
      <div className={ui.tableWrap}>
        <table className={ui.table}>
          <thead><tr><th scope="col">File</th><th scope="col">Verdict</th><th scope="col">Size</th><th scope="col">Imports and calls</th></tr></thead>
          <tbody>{files.map((f) => (
            <tr key={f.path} data-testid="model-file">
              <td className={ui.mono}>{f.path}<br /><span className={ui.small}>{f.format} · sha256 {f.sha256}</span></td>
              <td>{f.verdict}</td>
              <td>{formatBytes(f.size)}</td>
              <td>
                {f.findings?.length ? (
                  <ul className={styles.reasons}>{f.findings.slice(0, SHOWN).map((x, i) => <li key={i}>{finding(x)}</li>)}</ul>
                ) : <span className={ui.muted}>none</span>}
                {f.findings_count > Math.min(SHOWN, f.findings?.length || 0) && (
                  <p className={ui.hint}>{f.findings_count} in all.</p>
                )}
              </td>
            </tr>
          ))}</tbody>
        </table>
      </div>
    </section>
  );
}
