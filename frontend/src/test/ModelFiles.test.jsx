import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { ModelFiles } from '../components/ModelFiles.jsx';

const FILES = [
  { path: 'data/model.pth', verdict: 'dangerous', size: 2048, sha256: 'ab'.repeat(32), format: 'zip/pytorch-zip',
    findings_count: 3, findings: [
      { member: 'archive/data.pkl', kind: 'call', name: 'posix.system', classification: 'dangerous', reason: 'runs a command', count: 1, args: '' },
      { member: '', kind: 'build', name: 'types.CodeType', classification: 'expected', reason: 'cloudpickle', count: 2, args: 'predict (model.py)' },
    ] },
  { path: 'MLmodel', verdict: 'clean', size: 120, sha256: 'cd'.repeat(32), format: 'text', findings_count: 0, findings: [] },
];

describe('model files', () => {
  it('shows each file with its verdict, digest and classified imports and calls, and the code an expected one brings', () => {
    render(<ModelFiles files={FILES} count={7} />);
    expect(screen.getByRole('heading', { name: 'Model files (the 2 worst of 7)' })).toBeInTheDocument();
    const [torch, mlmodel] = screen.getAllByTestId('model-file');
    expect(within(torch).getByText('dangerous')).toBeInTheDocument();
    expect(within(torch).getByText('dangerous: call posix.system in archive/data.pkl (runs a command)')).toBeInTheDocument();
    expect(within(torch).getByText('expected: build types.CodeType ×2 — predict (model.py)')).toBeInTheDocument();
    expect(within(torch).getByText('3 in all.')).toBeInTheDocument();
    expect(within(torch).getByText(/sha256 abab/)).toBeInTheDocument();
    expect(within(mlmodel).getByText('none')).toBeInTheDocument();
  });

  it('renders nothing before the files were scanned', () => {
    const { container } = render(<ModelFiles files={[]} count={0} />);
    expect(container).toBeEmptyDOMElement();
  });
});
