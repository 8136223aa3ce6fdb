// Findings: a table sortable by column and filterable by severity, definite/possible, package and role.
// ServerFindings pages through a stored report (/scan/findings/); LocalFindings sorts and filters a list
// already in memory (the dry run). Severity is always written out, never shown by colour alone.
import { useMemo, useState } from 'react';
import { queryString } from '../lib/api.js';
import { SEVERITIES } from '../lib/format.js';
import { useResource } from '../lib/hooks.js';
import { ErrorAlert, Field, Pager, SeverityBadge, ui } from './common.jsx';
import styles from './Findings.module.css';

export const FINDINGS_PAGE = 50;
const COLUMNS = [
  ['severity', 'Severity'], ['package', 'Package'], [null, 'Version'], ['advisory_id', 'Advisory'],
  ['score', 'Score'], [null, 'Fixed in'], [null, 'Match'], [null, 'Where'],
];

function FindingFilters({ filters, onFilter }) {
  return (
    <div className={ui.row} role="group" aria-label="Filter findings">
      <Field label="Severity">
        {(p) => (
          <select {...p} className={ui.select} value={filters.severity} onChange={(e) => onFilter({ severity: e.target.value })}>
            <option value="">All severities</option>
            {SEVERITIES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        )}
      </Field>
      <Field label="Match">
        {(p) => (
          <select {...p} className={ui.select} value={filters.definite} onChange={(e) => onFilter({ definite: e.target.value })}>
            <option value="">Definite and possible</option>
            <option value="true">Definite (pinned version)</option>
            <option value="false">Possible (unpinned range)</option>
          </select>
        )}
      </Field>
      <Field label="Package">
        {(p) => <input {...p} className={ui.input} type="search" value={filters.package} onChange={(e) => onFilter({ package: e.target.value.trim() })} />}
      </Field>
      <Field label="Role">
        {(p) => (
          <select {...p} className={ui.select} value={filters.role} onChange={(e) => onFilter({ role: e.target.value })}>
            <option value="">Any role</option>
            <option value="runtime">runtime</option>
            <option value="build">build</option>
            <option value="constraint">constraint</option>
            <option value="os">os (base image package)</option>
          </select>
        )}
      </Field>
    </div>
  );
}

export function FindingsTable({ rows, ordering, onSort }) {
  const field = ordering.replace(/^-/, '');
  const descending = ordering.startsWith('-');
  const sortState = (key) => {
    if (key !== field) return 'none';
    // "severity" ascending means most severe first (the API's rank order).
    if (key === 'severity') return descending ? 'ascending' : 'descending';
    return descending ? 'descending' : 'ascending';
  };
  return (
    <div className={ui.tableWrap}>
      <table className={ui.table}>
        <caption className={ui.visuallyHidden}>Findings</caption>
        <thead>
          <tr>
            {COLUMNS.map(([key, label]) => (
              <th key={label} scope="col" aria-sort={key ? sortState(key) : undefined}>
                {key ? (
                  <button type="button" className={ui.sortButton} onClick={() => onSort(key === field && !descending ? `-${key}` : key)}>
                    {label}<span aria-hidden="true">{key === field ? (descending ? ' ▲' : ' ▼') : ' ↕'}</span>
                  </button>
                ) : label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((f, i) => (
            <tr key={`${f.advisory_id}-${f.package}-${f.source_file}-${f.line}-${i}`}>
              <td><SeverityBadge severity={f.severity} /></td>
              <td>{f.package}{f.role && f.role !== 'runtime' && <span className={ui.muted}> ({f.role})</span>}</td>
              <td className={ui.mono}>{f.version || f.specifier || 'any'}</td>
              <td><span className={ui.mono}>{f.advisory_id}</span>
                {f.aliases?.length > 0 && <div className={`${ui.small} ${ui.muted}`}>{f.aliases.slice(0, 3).join(', ')}</div>}
                {f.summary && <div className={ui.small}>{f.summary}</div>}
              </td>
              <td>{f.score ?? '—'}</td>
              <td className={ui.mono}>{f.fixed_versions?.length ? f.fixed_versions.join(', ') : 'no fix'}</td>
              <td>{f.definite ? <span className={styles.definite}>Definite</span> : <span className={styles.possible}>Possible</span>}</td>
              <td className={ui.mono}>{f.source_file}{f.line ? `:${f.line}` : ''}
                {f.pulled_in_by?.length > 0 && <div className={ui.small}>pulled in by {f.pulled_in_by.join(' → ')}</div>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const EMPTY = { severity: '', definite: '', package: '', role: '' };

export function ServerFindings({ releaseId, version }) {
  const [filters, setFilters] = useState(EMPTY);
  const [ordering, setOrdering] = useState('severity');
  const [page, setPage] = useState(1);
  const res = useResource(`/api/releases/${releaseId}/scan/findings/${queryString({
    ...filters, ordering, page, page_size: FINDINGS_PAGE, v: version,
  })}`);
  const onFilter = (changes) => { setFilters((f) => ({ ...f, ...changes })); setPage(1); };
  return (
    <div>
      <FindingFilters filters={filters} onFilter={onFilter} />
      <ErrorAlert error={res.error} />
      {res.data && (
        <>
          <p className={ui.muted} role="status">{res.data.count} finding{res.data.count === 1 ? '' : 's'} match.</p>
          {res.data.count > 0 && <FindingsTable rows={res.data.results} ordering={ordering} onSort={(o) => { setOrdering(o); setPage(1); }} />}
          <Pager page={page} count={res.data.count} pageSize={FINDINGS_PAGE} onPage={setPage} label="Finding pages" />
        </>
      )}
    </div>
  );
}

const RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));

export function sortFindings(rows, ordering) {
  const field = ordering.replace(/^-/, '');
  const sign = ordering.startsWith('-') ? -1 : 1;
  const value = (f) => (field === 'severity' ? RANK[f.severity] ?? 99 : field === 'score' ? f.score ?? -1 : String(f[field] || ''));
  return [...rows].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    return (x < y ? -1 : x > y ? 1 : 0) * sign;
  });
}

export function filterFindings(rows, filters) {
  return rows.filter((f) => (!filters.severity || f.severity === filters.severity)
    && (!filters.definite || String(Boolean(f.definite)) === filters.definite)
    && (!filters.package || f.package.toLowerCase().includes(filters.package.toLowerCase()))
    && (!filters.role || f.role === filters.role));
}

export function LocalFindings({ findings }) {
  const [filters, setFilters] = useState(EMPTY);
  const [ordering, setOrdering] = useState('severity');
  const [page, setPage] = useState(1);
  const shown = useMemo(() => sortFindings(filterFindings(findings, filters), ordering), [findings, filters, ordering]);
  return (
    <div>
      <FindingFilters filters={filters} onFilter={(c) => { setFilters((f) => ({ ...f, ...c })); setPage(1); }} />
      <p className={ui.muted} role="status">{shown.length} finding{shown.length === 1 ? '' : 's'} match.</p>
      {shown.length > 0 && <FindingsTable rows={shown.slice((page - 1) * FINDINGS_PAGE, page * FINDINGS_PAGE)} ordering={ordering} onSort={setOrdering} />}
      <Pager page={page} count={shown.length} pageSize={FINDINGS_PAGE} onPage={setPage} label="Finding pages" />
    </div>
  );
}

/** Counts by severity as a small bar chart; every bar is labelled with its level and number. */
export function SeverityChart({ counts = {}, possible = {} }) {
  const max = Math.max(1, ...SEVERITIES.map((s) => (counts[s] || 0) + (possible[s] || 0)));
  return (
    <figure className={styles.chart}>
      <figcaption className={ui.h3}>Findings by severity</figcaption>
      <dl className={styles.bars}>
        {SEVERITIES.map((s) => (
          <div key={s} className={styles.barRow}>
            <dt className={styles.barLabel}>{s}</dt>
            <dd className={styles.barCell}>
              <span className={`${styles.bar} ${styles[`fill${s}`]}`} style={{ width: `${((counts[s] || 0) / max) * 100}%` }} aria-hidden="true" />
              <span className={styles.possibleBar} style={{ width: `${((possible[s] || 0) / max) * 100}%` }} aria-hidden="true" />
              <span className={styles.barValue}>{counts[s] || 0} definite{possible[s] ? `, ${possible[s]} possible` : ''}</span>
            </dd>
          </div>
        ))}
      </dl>
    </figure>
  );
}
