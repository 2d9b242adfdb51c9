import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Synthesising the CDK stack and starting s3rver take seconds on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file gets its own process: onnxruntime sessions and s3rver ports stay isolated.
    pool: 'forks',
  },
});
