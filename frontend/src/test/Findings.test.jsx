import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { LocalFindings, SeverityChart, filterFindings, sortFindings } from '../components/Findings.jsx';
import { renderScreen, scriptedFetch } from './harness.jsx';

const F = (package_, severity, extra = {}) => ({
  package: package_, severity, version: '1.0', specifier: '', advisory_id: `A-${package_}-${severity}`, aliases: [],
  summary: '', score: null, fixed_versions: [], definite: true, source_file: 'requirements.txt', line: 1, role: 'runtime', ...extra,
});
const ROWS = [F('b', 'LOW', { score: 2 }), F('a', 'CRITICAL', { score: 9.8 }), F('c', 'HIGH', { definite: false, score: 7 }),
  F('d', 'UNKNOWN', { role: 'build' })];

function packages() {
  const table = screen.getByRole('table', { name: 'Findings' });
  return within(table).getAllByRole('row').slice(1).map((r) => within(r).getAllByRole('cell')[1].textContent);
}

describe('findings table', () => {
  it('sorts most severe first, then by the column clicked, and says so with aria-sort', async () => {
    renderScreen(<LocalFindings findings={ROWS} />, { fetch: scriptedFetch([]) });
    expect(packages()).toEqual(['a', 'c', 'b', 'd (build)']);
    const user = userEvent.setup();
    const header = screen.getByRole('columnheader', { name: /Package/ });
    await user.click(within(header).getByRole('button'));
    expect(packages()).toEqual(['a', 'b', 'c', 'd (build)']);
    expect(header).toHaveAttribute('aria-sort', 'ascending');
    await user.click(within(header).getByRole('button'));
    expect(packages()).toEqual(['d (build)', 'c', 'b', 'a']);
    expect(header).toHaveAttribute('aria-sort', 'descending');
    await user.click(within(screen.getByRole('columnheader', { name: /Score/ })).getByRole('button'));
    expect(packages()).toEqual(['d (build)', 'b', 'c', 'a']); // no score sorts lowest
  });

  it('filters by severity, definite or possible, package and role', async () => {
    renderScreen(<LocalFindings findings={ROWS} />, { fetch: scriptedFetch([]) });
    const user = userEvent.setup();
    await user.selectOptions(screen.getByLabelText('Severity'), 'HIGH');
    expect(packages()).toEqual(['c']);
    expect(screen.getByText('1 finding match.')).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText('Severity'), '');
    await user.selectOptions(screen.getByLabelText('Match'), 'false');
    expect(packages()).toEqual(['c']);
    expect(screen.getByText('Possible')).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText('Match'), 'true');
    await user.selectOptions(screen.getByLabelText('Role'), 'build');
    expect(packages()).toEqual(['d (build)']);
    await user.selectOptions(screen.getByLabelText('Role'), '');
    await user.type(screen.getByLabelText('Package'), 'zzz');
    expect(screen.getByText('0 findings match.')).toBeInTheDocument();
    expect(screen.queryByRole('table', { name: 'Findings' })).toBeNull();
  });

  it('writes the severity out on every row, never colour alone', () => {
    renderScreen(<LocalFindings findings={ROWS} />, { fetch: scriptedFetch([]) });
    const table = screen.getByRole('table', { name: 'Findings' });
    expect(within(table).getAllByText(/^(CRITICAL|HIGH|MEDIUM|LOW|UNKNOWN)$/)).toHaveLength(4);
  });

  it('pages a long list 50 at a time', async () => {
    const many = Array.from({ length: 120 }, (_, i) => F(`p${String(i).padStart(3, '0')}`, 'LOW'));
    renderScreen(<LocalFindings findings={many} />, { fetch: scriptedFetch([]) });
    expect(packages()).toHaveLength(50);
    expect(screen.getByText('Page 1 of 3')).toBeInTheDocument();
    await userEvent.setup().click(screen.getByRole('button', { name: 'Next' }));
    expect(packages()[0]).toBe('p050');
  });

  it('sort and filter helpers keep the API order rules', () => {
    expect(sortFindings(ROWS, '-severity').map((f) => f.severity)).toEqual(['UNKNOWN', 'LOW', 'HIGH', 'CRITICAL']);
    expect(filterFindings(ROWS, { severity: '', definite: 'true', package: 'A', role: '' }).map((f) => f.package)).toEqual(['a']);
  });

  it('labels every bar of the severity chart with its level and count', () => {
    renderScreen(<SeverityChart counts={{ CRITICAL: 2, LOW: 1 }} possible={{ HIGH: 3 }} />, { fetch: scriptedFetch([]) });
    expect(screen.getByText('2 definite')).toBeInTheDocument();
    expect(screen.getByText('0 definite, 3 possible')).toBeInTheDocument();
  });
});

describe('a locked transitive finding', () => {
  it('says which declared requirement pulled it in', () => {
    const leaf = F('leaflib', 'CRITICAL', { source_file: 'requirements.lock.txt', line: 7, pulled_in_by: ['toplib', 'midlib'] });
    renderScreen(<LocalFindings findings={[leaf, F('toplib', 'LOW')]} />, { fetch: scriptedFetch([]) });
    expect(screen.getByText('pulled in by toplib → midlib')).toBeInTheDocument();
    expect(screen.getByText(/requirements\.lock\.txt:7/)).toBeInTheDocument();
    expect(screen.getAllByText(/pulled in by/)).toHaveLength(1); // a declared requirement names its own line only
  });
});
