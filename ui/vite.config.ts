import { defineConfig } from 'vitest/config';

// Relative asset paths so the same dist works from bridgedockd (http://127.0.0.1:PORT/)
// and from the desktop app's webview (tauri://localhost/).
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
