/** A dataset under an S3 prefix (datasets/<name>/) as an ingestion source. */
import type { S3Client } from '@aws-sdk/client-s3';
import { getObjectBytes, listAllObjects } from '../../shared/s3-objects.js';
import type { DatasetSource } from './ingest.js';

export function s3DatasetSource(s3: S3Client, bucket: string, prefix: string): DatasetSource {
  return {
    description: `s3://${bucket}/${prefix}`,
    async list() {
      return (await listAllObjects(s3, bucket, prefix)).map((o) => o.key.slice(prefix.length)).sort();
    },
    async read(file) {
      const bytes = await getObjectBytes(s3, bucket, `${prefix}${file}`);
      if (bytes === undefined) throw new Error(`s3://${bucket}/${prefix}${file} disappeared while the dataset was read`);
      return bytes;
    },
  };
}
