import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Built into dist/ and served by Django: django-vite reads dist/.vite/manifest.json, collectstatic and
// whitenoise serve dist/ under STATIC_URL, hence base '/static/'.
export default defineConfig({
  base: '/static/',
  plugins: [react()],
  build: {
    manifest: true,
    outDir: 'dist',
    emptyOutDir: true,
    // Keep the entry's exports: an IDP page imports mount() from it.
    rollupOptions: { input: 'src/main.jsx', preserveEntrySignatures: 'exports-only' },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['src/test/setup.js'],
    include: ['src/**/*.test.{js,jsx}'],
    // jsdom renders a 120-row table in about 1 s on an idle core of this 2-core machine, and took over the
    // default 5 s while other test suites ran beside it: a timeout measures the machine, not the portal.
    testTimeout: 20000,
  },
});
