import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../lambdas/shared/s3-client.js';
import { startLocalS3Server, type LocalS3Server } from '../../local/s3-server.js';
import { localTrainingJobIntegration } from '../../local/sagemaker.js';
import type { JsonValue } from '../../local/stepfunctions/definition.js';

const BUCKET = 'exodetect-data';
let server: LocalS3Server;
let dir: string;
let s3: S3Client;
let trainerDir: string;

// A stand-in trainer with the container's contract: reads SM_BASE_DIR, writes model/ or output/failure.
const FAKE_TRAINER = `
import json, os, sys
base = os.environ["SM_BASE_DIR"]
hp = json.load(open(os.path.join(base, "input/config/hyperparameters.json")))
train = os.path.join(base, "input/data/train")
files = sorted(os.path.relpath(os.path.join(r, f), train) for r, _, fs in os.walk(train) for f in fs)
if hp.get("fail") == "yes":
    open(os.path.join(base, "output/failure"), "w").write("dataset has no annotations: " + ",".join(files))
    sys.exit(2)
for e in range(int(hp["epochs"])):
    print(f"epoch={e+1} train_loss={1.0/(e+1):.4f} val_ap50=0.{e+5}000 val_f1=0.7000 lr=0.001000 epoch_time_s=0.1", flush=True)
open(os.path.join(base, "checkpoints/last.pt"), "w").write("ckpt")
open(os.path.join(base, "model/model.onnx"), "w").write("onnx")
json.dump({"files": files, "hp": hp}, open(os.path.join(base, "model/metrics.json"), "w"))
`;
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'exodetect-sm-'));
  server = await startLocalS3Server({ directory: path.join(dir, 's3'), buckets: [BUCKET] });
  s3 = createS3Client({ EXODETECT_S3_ENDPOINT: server.endpoint });
  trainerDir = path.join(dir, 'trainer');
  await mkdir(path.join(trainerDir, 'exodetect_train'), { recursive: true });
  await writeFile(path.join(trainerDir, 'exodetect_train', '__init__.py'), '');
  await writeFile(path.join(trainerDir, 'exodetect_train', '__main__.py'), FAKE_TRAINER);
  const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  await put('training/r1/channels/train/images/a.png', 'a');
  await put('training/r1/channels/train/images/b.png', 'b');
  await put('training/r1/channels/train/labels/a.txt', '0 0.5 0.5 0.1 0.1');
  await put('training/r1/manifests/train.manifest', JSON.stringify([{ prefix: `s3://${BUCKET}/training/r1/channels/train/` }, 'images/a.png', 'labels/a.txt']));
  await put('training/r1/channels/validation/images/c.png', 'c');
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const params = (hp: Record<string, string>, name = 'exodetect-r1'): JsonValue => ({
  TrainingJobName: name,
  AlgorithmSpecification: { TrainingImage: 'local', TrainingInputMode: 'File', MetricDefinitions: [{ Name: 'val_ap50', Regex: 'val_ap50=([-+0-9.eE]+|nan|inf)' }] },
  InputDataConfig: [
    { ChannelName: 'train', DataSource: { S3DataSource: { S3DataType: 'ManifestFile', S3Uri: `s3://${BUCKET}/training/r1/manifests/train.manifest` } } },
    { ChannelName: 'validation', DataSource: { S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${BUCKET}/training/r1/channels/validation/` } } },
  ],
  OutputDataConfig: { S3OutputPath: `s3://${BUCKET}/training/r1/output/` },
  CheckpointConfig: { S3Uri: `s3://${BUCKET}/training/r1/checkpoints/`, LocalPath: '/opt/ml/checkpoints' },
  StoppingCondition: { MaxRuntimeInSeconds: 120 },
  HyperParameters: hp,
});

const task = { stateName: 'Train', resource: 'arn:aws:states:::sagemaker:createTrainingJob.sync', context: {} };

describe('local SageMaker training job', () => {
  it('builds the channel tree, runs the trainer, uploads model.tar.gz and answers like DescribeTrainingJob', async () => {
    const events = new EventEmitter();
    const metrics: number[] = [];
    events.on('metric', (m: { value: number }) => metrics.push(m.value));
    const train = localTrainingJobIntegration({ s3, trainingDir: trainerDir, events });
    const result = (await train(params({ epochs: '2' }), task)) as {
      TrainingJobStatus: string;
      ModelArtifacts: { S3ModelArtifacts: string };
      FinalMetricDataList: { MetricName: string; Value: number }[];
    };
    expect(result.TrainingJobStatus).toBe('Completed');
    expect(result.ModelArtifacts.S3ModelArtifacts).toBe(`s3://${BUCKET}/training/r1/output/exodetect-r1/output/model.tar.gz`);
    expect(metrics).toEqual([0.5, 0.6]);
    expect(result.FinalMetricDataList).toEqual([expect.objectContaining({ MetricName: 'val_ap50', Value: 0.6 })]);

    const tarball = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'training/r1/output/exodetect-r1/output/model.tar.gz' }));
    const extractTo = path.join(dir, 'extract');
    await mkdir(extractTo);
    await writeFile(path.join(dir, 'm.tar.gz'), Buffer.from(await tarball.Body!.transformToByteArray()));
    execFileSync('tar', ['-xzf', path.join(dir, 'm.tar.gz'), '-C', extractTo]);
    const { readFile } = await import('node:fs/promises');
    const written = JSON.parse(await readFile(path.join(extractTo, 'metrics.json'), 'utf8')) as { files: string[]; hp: unknown };
    // Only the manifest's entries, at their relative paths.
    expect(written.files).toEqual(['images/a.png', 'labels/a.txt']);
    expect(written.hp).toEqual({ epochs: '2' });
    const ckpt = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'training/r1/checkpoints/last.pt' }));
    expect(await ckpt.Body!.transformToString()).toBe('ckpt');
  }, TRAINER_TIMEOUT_MS);

  it('fails as a .sync task does, with the failure file as FailureReason', async () => {
    const train = localTrainingJobIntegration({ s3, trainingDir: trainerDir });
    const error = await train(params({ epochs: '1', fail: 'yes' }, 'exodetect-r2'), task).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.name).toBe('States.TaskFailed');
    const cause = JSON.parse(error!.message) as { TrainingJobStatus: string; FailureReason: string };
    expect(cause.TrainingJobStatus).toBe('Failed');
    expect(cause.FailureReason).toBe('AlgorithmError: dataset has no annotations: images/a.png,labels/a.txt');
  }, TRAINER_TIMEOUT_MS);

  it('rejects invalid parameters like CreateTrainingJob', async () => {
    const train = localTrainingJobIntegration({ s3, trainingDir: trainerDir });
    await expect(train(params({ epochs: '1' }, 'bad_name!'), task)).rejects.toMatchObject({ name: 'SageMaker.AmazonSageMakerException' });
    await expect(train({ ...(params({}) as object), HyperParameters: { epochs: 2 } } as JsonValue, task)).rejects.toThrow(/must be a string/);
  });
});
