#!/usr/bin/env node
// The `exodetect` command: runs local/cli.ts through tsx, so it works from a
// clone without a build step.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../local/cli.ts');
await main(process.argv);
