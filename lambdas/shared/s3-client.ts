import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

/**
 * The one place an S3 client is configured. In AWS the endpoint is the
 * default; locally `EXODETECT_S3_ENDPOINT` points at the s3rver on loopback.
 * Handlers do not otherwise know where they run.
 */
export function createS3Client(env: NodeJS.ProcessEnv = process.env, overrides: S3ClientConfig = {}): S3Client {
  const endpoint = env.EXODETECT_S3_ENDPOINT;
  const local: S3ClientConfig = endpoint
    ? {
        endpoint,
        forcePathStyle: true,
        region: env.AWS_REGION ?? 'us-east-1',
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        // s3rver stores streamed bodies corrupted when the SDK adds its default checksums.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }
    : {};
  return new S3Client({ ...local, ...overrides });
}
