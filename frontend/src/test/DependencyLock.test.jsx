import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { DependencyLock } from '../components/DependencyLock.jsx';

const LOCK = { outcome: 'resolved', packages: 100, python_version: '3.11.13', platform: 'x86_64-manylinux_2_28',
  sha256: 'ab'.repeat(32), message: '' };

describe('the dependency lock line', () => {
  it('names the packages, the target and the digest of a resolved lock', () => {
    render(<DependencyLock lock={LOCK} />);
    expect(screen.getByText(/100 packages for Python 3\.11\.13 \(x86_64-manylinux_2_28\)/)).toBeInTheDocument();
    expect(screen.getByText('abababababab…')).toBeInTheDocument();
  });

  it("gives the resolver's reason when there is no lock", () => {
    const reason = 'Because leaflib<2 is not available';
    render(<DependencyLock lock={{ ...LOCK, outcome: 'unresolvable', message: `error: …\n  cause: ${reason}.`, reason,
      sha256: '' }} />);
    expect(screen.getByText(/cannot be resolved: Because leaflib<2 is not available\./)).toBeInTheDocument();
  });

  it('shows nothing for a report without lock information', () => {
    const { container } = render(<DependencyLock lock={null} />);
    expect(container).toBeEmptyDOMElement();
  });
});
