export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];

export const STATUS_LABELS = {
  PENDING: 'Pending',
  SCANNING_DEPENDENCIES: 'Scanning dependencies',
  SCAN_FAILED: 'Scan failed',
  SCAN_PASSED: 'Scan passed',
  AWAITING_APPROVAL: 'Awaiting approval',
  APPROVED: 'Approved',
  REJECTED: 'Rejected',
  BUILDING_IMAGE: 'Building image',
  BUILD_FAILED: 'Build failed',
  SUCCEEDED: 'Succeeded',
  CANCELLED: 'Cancelled',
  FAILED: 'Failed',
};

export const TERMINAL = new Set(['SUCCEEDED', 'REJECTED', 'CANCELLED']);
// Statuses that may still change without anyone acting (poll these fast); the rest wait for people.
export const IN_PROGRESS = new Set(['PENDING', 'SCANNING_DEPENDENCIES', 'SCAN_PASSED', 'APPROVED', 'BUILDING_IMAGE']);

/** What happens next, in a sentence, for a release in `status`. */
export function nextStep(release) {
  switch (release.status) {
    case 'PENDING': return 'The worker will resolve the model in MLflow and fetch its environment files.';
    case 'SCANNING_DEPENDENCIES': return 'The dependencies are being scanned against the advisory database.';
    case 'SCAN_PASSED': return 'The scan passed; the approval stages open next.';
    case 'AWAITING_APPROVAL': return 'Waiting for the approvals listed below.';
    case 'APPROVED': return 'Approved; the image build starts next.';
    case 'BUILDING_IMAGE': return 'The image is being built; the build reports back when it is done.';
    case 'SUCCEEDED': return 'Done: the image below is the released one.';
    case 'SCAN_FAILED': return 'Blocked by the policy (reasons below). Fix the dependencies and request a new version, or ask a security officer for a waiver; it is re-checked when waivers or advisories change.';
    case 'BUILD_FAILED': return 'The build failed; the requester or a platform admin can retry it.';
    case 'FAILED': return `A step failed${release.failed_step ? ` (${release.failed_step})` : ''}; the requester or a platform admin can retry it.`;
    case 'REJECTED': return 'Rejected; request again once the reason is dealt with.';
    case 'CANCELLED': return 'Cancelled; nothing more will happen.';
    default: return '';
  }
}

export function formatTime(value) {
  if (!value) return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
