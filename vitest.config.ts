import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Synthesising the CDK stack and starting s3rver take seconds on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file gets its own process: onnxruntime sessions and s3rver ports stay isolated.
    pool: 'forks',
    // The SDK warns once per process that Node 20 support ends in 2027; the project supports Node >= 20 on purpose.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
