/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The FlowTrack server serves the built app at /app/ (index.html for every
// unknown /app/* path). In development, the API is proxied to a local server.
const apiTarget = process.env.FLOWTRACK_DEV_API ?? 'http://127.0.0.1:8100';
const apiPaths = [
  '/auth',
  '/users',
  '/projects',
  '/tasks',
  '/comments',
  '/activity',
  '/reports',
  '/notifications',
  '/health',
  '/openapi.json',
];

export default defineConfig({
  base: '/app/',
  plugins: [react()],
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      ...Object.fromEntries(apiPaths.map((p) => [p, { target: apiTarget, changeOrigin: false }])),
      '/ws': { target: apiTarget.replace(/^http/, 'ws'), ws: true },
    },
  },
  build: {
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
