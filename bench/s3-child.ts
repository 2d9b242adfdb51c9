/**
 * The benchmark's S3: s3rver in a process of its own (S3 is never in the
 * Lambda's process, so its request handling must not share our event loop).
 * Prints {"endpoint": ...} once listening; exits when stdin closes.
 * Usage: s3-child.ts DIRECTORY BUCKET
 */
import { startLocalS3Server } from '../local/s3-server.js';

const [directory, bucket] = process.argv.slice(2);
if (!directory || !bucket) throw new Error('usage: s3-child.ts DIRECTORY BUCKET');
const server = await startLocalS3Server({ directory, buckets: [bucket] });
console.log(JSON.stringify({ endpoint: server.endpoint }));
process.stdin.resume();
process.stdin.on('end', () => {
  void server.close().then(() => process.exit(0));
});
