/**
 * The benchmark's S3: s3rver in a process of its own (S3 is never in the
 * Lambda's process, so its request handling must not share our event loop).
 * Prints {"endpoint": ...} once listening, {"cpu_ms": ...} for each "cpu" line on stdin;
 * exits when stdin closes.
 * Usage: s3-child.ts DIRECTORY BUCKET
 */
import { startLocalS3Server } from '../local/s3-server.js';

const [directory, bucket] = process.argv.slice(2);
if (!directory || !bucket) throw new Error('usage: s3-child.ts DIRECTORY BUCKET');
const server = await startLocalS3Server({ directory, buckets: [bucket] });
console.log(JSON.stringify({ endpoint: server.endpoint }));
// A line "cpu" on stdin is answered with this process's CPU time so far: s3rver shares the
// host's cores with the pipeline (S3 does not share a Lambda's), and the bench reports how much.
let pending = '';
process.stdin.on('data', (chunk: Buffer) => {
  pending += chunk.toString();
  let newline;
  while ((newline = pending.indexOf('\n')) >= 0) {
    const line = pending.slice(0, newline).trim();
    pending = pending.slice(newline + 1);
    if (line === 'cpu') {
      const { user, system } = process.cpuUsage();
      console.log(JSON.stringify({ cpu_ms: (user + system) / 1000 }));
    }
  }
});
process.stdin.on('end', () => {
  void server.close().then(() => process.exit(0));
});
