// The policy decision with every reason: what blocks, what only warns, what a waiver covered, the
// quality gates, and what could not be read (which always blocks).
import { Alert, ui } from './common.jsx';
import styles from './Detail.module.css';

function describe(item, withReason = true) {
  if (!item.advisory_id) return item.reason || item.package || '';
  const what = [item.package, item.version || item.specifier].filter(Boolean).join(' ');
  const advisory = item.advisory_id ? ` ${item.advisory_id}` : '';
  const severity = item.severity ? ` (${item.severity}${item.definite === false ? ', possible' : ''})` : '';
  const why = withReason && item.reason ? ` — ${item.reason}` : '';
  return `${what}${advisory}${severity}${item.where ? ` at ${item.where}` : ''}${why}`;
}

function Reasons({ title, items, render = describe }) {
  if (!items?.length) return null;
  return (
    <>
      <h3 className={ui.h3}>{title} ({items.length})</h3>
      <ul className={styles.reasons}>{items.slice(0, 200).map((item, i) => <li key={i}>{render(item)}</li>)}</ul>
      {items.length > 200 && <p className={ui.hint}>…and {items.length - 200} more; the findings table lists them all.</p>}
    </>
  );
}

export function PolicyDecision({ decision }) {
  if (!decision) return null;
  return (
    <div>
      <Alert kind={decision.passed ? 'ok' : 'error'}>
        <strong>{decision.passed ? 'Passes the policy' : 'Blocked by the policy'}</strong>
        {decision.policy_version != null && ` (${decision.environment} policy v${decision.policy_version}, blocks at ${decision.block_at})`}
        : {decision.summary}
      </Alert>
      <Reasons title="Could not be read (blocks)" items={decision.unreadable} />
      <Reasons title="Blocking" items={decision.blocking} />
      <Reasons title="Quality gates" items={decision.gates}
               render={(g) => `${g.passed ? '✔ passed' : '✖ failed'}: ${g.gate} (${g.message})`} />
      {decision.rego && (
        <Reasons title={`Rego policy: ${decision.rego.allow ? 'allows' : 'denies'}`} items={decision.rego.deny || []}
                 render={(d) => (typeof d === 'string' ? d : JSON.stringify(d))} />
      )}
      <Reasons title="Warnings" items={decision.warnings} />
      <Reasons title="Waived" items={decision.waived}
               render={(w) => `${describe(w, false)} — waiver #${w.waiver}${w.reason ? `: ${w.reason}` : ''}`} />
      <Reasons title="Ignored by the policy" items={decision.ignored} />
      {decision.below_threshold > 0 && (
        <p className={ui.small}>{decision.below_threshold} definite finding{decision.below_threshold === 1 ? '' : 's'} below the blocking severity.</p>
      )}
    </div>
  );
}

export function WaiversApplied({ decision }) {
  const used = decision?.waivers_used || [];
  return (
    <section aria-labelledby="waivers-applied">
      <h3 id="waivers-applied" className={ui.h3}>Waivers applied</h3>
      {used.length ? (
        <ul className={styles.reasons}>
          {used.map((id) => {
            const covered = (decision.waived || []).filter((w) => w.waiver === id);
            return <li key={id}>Waiver #{id}{covered.length ? `: covers ${covered.map((w) => describe(w, false)).join('; ')}` : ''}</li>;
          })}
        </ul>
      ) : <p className={ui.muted}>No waiver was needed or used.</p>}
    </section>
  );
}
