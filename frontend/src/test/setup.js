import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

// findBy*/waitFor wait up to 5 s (default 1 s): a loaded CI machine must not turn a slow render into a failure.
configure({ asyncUtilTimeout: 5000 });

afterEach(() => cleanup());
