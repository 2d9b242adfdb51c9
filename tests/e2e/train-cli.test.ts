/**
 * `exodetect train` as a user runs it (the installed command in a child
 * process), on what annotation tools export: one COCO file for a whole folder,
 * one makesense CSV, and a COCO file with a third of its boxes outside their
 * images. Tiny generated micrographs, one epoch of a narrow network.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, mkdtemp, rm, writeFile, unlink, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRAINER_TIMEOUT_MS } from '../helpers/timeouts.js';
import { BUNDLED_MODEL_CAVEAT } from '../../local/commands/run.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TRAINING_DIR = path.join(REPO, 'training-container');
/** One epoch, 64 px crops, a narrow network on one thread: seconds. */
const TINY = ['epochs=1', 'batch_size=2', 'crop_size=64', 'crops_per_image=1', 'width=8', 'threads=1', 'nm_per_px=1.5'].flatMap((h) => ['--hyperparameter', h]);

let root: string;

interface Coco {
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: { id: number; image_id: number; bbox: number[] }[];
}

/** Generated micrographs with one COCO file for the folder, as CVAT or makesense.ai export it. */
/** Pids of live processes whose environment names `scratch` as SM_BASE_DIR: the local trainer of that job. */
function trainersOf(scratch: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`SM_BASE_DIR=${scratch}`);
      } catch {
        return false; // ended meanwhile, or not ours to read
      }
    })
    .map(Number);
}

function synthDataset(dir: string, count = 8): void {
  execFileSync('/usr/bin/python3', ['-m', 'exodetect_train.synth', '--out', dir, '--count', String(count), '--size', '160', '--labels', 'coco', '--seed', '5'], {
    cwd: TRAINING_DIR,
    env: { ...process.env, PYTHONPATH: TRAINING_DIR },
  });
}

async function exodetect(args: string[], dataDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [path.join(REPO, 'bin', 'exodetect.js'), ...args, '--data-dir', dataDir], { cwd: root, timeout: TRAINER_TIMEOUT_MS }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'exodetect-train-cli-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('exodetect train on annotation exports', () => {
  it('trains on a folder with one COCO file; the worse first model loses to the bundled one, and run keeps the bundled one', async () => {
    const dataset = path.join(root, 'coco-set');
    synthDataset(dataset);
    const store = path.join(root, 's3-coco');
    const result = await exodetect(['train', dataset, '--init-from', 'none', ...TINY, '--out', path.join(root, 'coco-record')], store);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe('Dataset coco-set: 10 added (annotations.coco.json, dataset.json, images/synth_00000.png, images/synth_00001.png and 6 more); 0 files unchanged.');
    expect(lines[1]).toMatch(/^Split: train 6 images \(\d+ objects\), validation 2 images \(\d+ objects\); from scratch\.$/);
    expect(lines[2]).toMatch(/^Note: validation holds \d+ annotated objects?, fewer than the 30 a promotion is decided on: /);
    // Said as the first epoch starts (it can be a minute before its line), then one line per epoch while it trains.
    expect(lines[3]).toBe('Each epoch trains on 6 random crops (1 a training image) and scores the 2 validation images; a line follows each one.');
    expect(lines[4]).toMatch(/^ {2}epoch 1\/1: loss [\d.]+, validation AP50 [\d.]+, F1 [\d.]+ \([\d.]+ s\)$/);
    // The validated run's threshold, and how it was chosen: two images' few objects leave it near the prior.
    expect(lines[5]).toMatch(/^The validated run's score threshold: [\d.]+ \(the best F1 on the \d+ validation objects was at [\d.]+, moved \d+% of the way toward 0\.5: a threshold picked on few objects is noisy, so the fewer, the further; 40\/\(40\+\d+\)\)\.$/);
    // Under 100 images, the trainer refits on all of them after the validated run (its start in its words, then its epochs).
    expect(lines[6]).toBe("Refit: training again on all 8 images (6 train + 2 validation), 1 epoch from the same start, keeping the last; the figures above and the promotion's comparison are the validated model's (saved as validated.onnx).");
    expect(lines[7]).toMatch(/^ {2}refit epoch 1\/1: loss [\d.]+ \([\d.]+ s\)$/);
    expect(lines[8]).toMatch(/^The refit model's score threshold, the one it ships with: [\d.]+ \(the validated model finds \d+ objects above [\d.]+ on the 6 training images; the refit finds as many above [\d.]+\)\.$/);
    // One epoch of a tiny network does not beat the bundled model on these images: rejected, with the figures.
    expect(result.stdout).toMatch(/^ {2}Model \S+'s validated run \(the same recipe without the held-out images\), on the 2 held-out images through the inference path: AP50 [\d.]+, F1 [\d.]+, precision [\d.]+, recall [\d.]+: the figures to quote, computed as run and evaluate compute them \(the trainer's own validation, in PyTorch at the training scale: AP50 [\d.]+, F1 [\d.]+; the per-epoch lines only chose the epoch\)\.$/m);
    // Two validation images hold too few objects to decide anything (the guard), and the figures say the bundled model was better anyway.
    expect(result.stdout).toMatch(
      /^ {2}Why: this run's validation split holds \d+ annotated objects?, too few to tell two models apart \(at least 30: annotate more images\)\. What it measured: not promoted: (AP50 is lower|F1 is not higher).*AP50 [\d.]+ vs [\d.]+, F1 [\d.]+ vs [\d.]+ \(the bundled default model\); both models on this run's validation split \(2 images, inference path; the candidate's refit model represented by its validated run's, trained without those images\)\.$/m,
    );
    // The verdict comes first after the training, and says which model run uses and how to run this one anyway.
    const verdict = lines.findIndex((l) => l.startsWith('NOT PROMOTED: '));
    expect(lines[verdict - 1]).toMatch(/^Trained in /);
    expect(lines[verdict]).toMatch(/^NOT PROMOTED: `exodetect run` keeps using the bundled default model \(models\/default\)\. Model \S+ stays in the store: `exodetect models use \S+ --data-dir \S+s3-coco` runs it anyway\.$/);
    expect(lines[verdict + 1]).toMatch(/^ {2}Why: /);
    // Under 100 images the exported model flip-averages and adds the half-size pass too (tta and half_scale_pass auto),
    // and both the output and the model list say so.
    expect(result.stdout).toMatch(
      /^ {2}Shipped as: refit on all 8 labelled images \(the figures above are its validated run's, trained without the held-out images; its threshold, [\d.]+, is matched to that run's [\d.]+\); averaging each image with its three mirror images \(tta: .*\); a second pass at half size for large particles \(half_scale_pass: .*\)\. .* refit, tta, half_scale_pass: on by default below 100 labelled images .*; --hyperparameter refit=false tta=false half_scale_pass=false turns them off\.$/m,
    );
    const models = await exodetect(['models'], store);
    expect(models.stdout).toMatch(/^ {2}\S+: trained on coco-set, refit on all 8 images \(the figures are its validated run's\), averaging each image with its mirror images \(tta: 4x the network time per image\), a second pass over each image at half size for large particles \(half_scale_pass: about 1\.25x the network time per image\); AP50 [\d.]+, F1 [\d.]+ on 2 validation images through the inference path \(the bundled default model there: AP50 [\d.]+, F1 [\d.]+\); score threshold [\d.]+; not promoted by its training run$/m);
    expect((await readdir(path.join(root, 'coco-record'))).sort()).toEqual(['card.md', 'metrics.json', 'split.json']); // no problems.txt: there were none
    // The record names the held-out images, and the output says where and what to score the model on.
    const split = JSON.parse(await readFile(path.join(root, 'coco-record', 'split.json'), 'utf8')) as { channels: { validation: { images: string[] }; train: { images: string[] } } };
    expect(split.channels.validation.images).toHaveLength(2);
    expect(split.channels.train.images.filter((i) => split.channels.validation.images.includes(i))).toEqual([]);
    // The store is not the default one, so the suggested command names it.
    expect(result.stdout).toMatch(/^ {2}The held-out images these figures are on: \S+coco-record\/split\.json \(channels\.validation\)\. `exodetect evaluate <dataset> --held-out \S+coco-record\/split\.json --data-dir \S+s3-coco` scores the validated model on them again; to score the refit model, use a folder of annotated images it never saw\.$/m);
    // That command scores the validated model the trainer saved beside the refit one, not the refit model.
    const heldOut = await exodetect(['evaluate', dataset, '--held-out', path.join(root, 'coco-record'), '--no-pictures', '--out', path.join(root, 'coco-heldout')], store);
    expect(heldOut.code, heldOut.stderr).toBe(0);
    // Its best threshold is on the validated model's scale: no setting for the refit model that run uses.
    expect(heldOut.stdout).not.toContain('--score-threshold');
    expect(heldOut.stdout).toMatch(/^Model: version (\S+)'s validated model \(\1 itself was refit on these images too; this is the same recipe without them\); 2 labelled images \(those \S+ held out\)/m);
    // <version>:validated scores it on any images; a model that was not refit has none.
    const version = /^Model: version (\S+)'s validated/m.exec(heldOut.stdout)![1]!;
    const named = await exodetect(['evaluate', dataset, '--model', `${version}:validated`, '--no-pictures', '--out', path.join(root, 'coco-validated')], store);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toMatch(new RegExp(`^Model: version ${version}'s validated model \\(the run before ${version} was refit on every labelled image\\); 8 labelled images`, 'm'));
    // Scored on images it trained on, a store model's figures flatter it, and evaluate says so: the validated model
    // trained on the 6 training images, the refit on all 8; the held-out images alone (--held-out) and the bundled model need no warning.
    expect(named.stdout).toContain(`Warning: 6 of these 8 images are ones this model trained on (its run ${version}): the figures here flatter it`);
    const refitOnItsOwn = await exodetect(['evaluate', dataset, '--model', version, '--no-pictures', '--out', path.join(root, 'coco-refit')], store);
    expect(refitOnItsOwn.stdout).toContain(`Warning: 8 of these 8 images are ones this model trained on (its run ${version})`);
    expect(JSON.parse(await readFile(path.join(root, 'coco-refit', 'metrics.json'), 'utf8'))).toMatchObject({ scored_images_the_model_trained_on: 8 });
    expect(heldOut.stdout).not.toContain('Warning:');
    const none = await exodetect(['evaluate', dataset, '--model', 'default:validated', '--no-pictures', '--out', path.join(root, 'coco-none')], store);
    expect(none.stderr).toContain('model default:validated: the bundled default model has no validated model (only refit models do)');
    // A model run uses: the threshold these images recommend, as a run command that keeps the size gate it was scored with.
    const gated = await exodetect(['evaluate', dataset, '--model', 'default', '--size-gate', '20,500', '--no-pictures', '--out', path.join(root, 'coco-gated')], store);
    expect(gated.stdout).not.toContain('Warning:');
    expect(gated.code, gated.stderr).toBe(0);
    expect(gated.stdout).toMatch(
      /^At [\d.]+, the threshold these \d+ objects recommend \(the best-F1 one moved \d+% of the way toward 0\.5, as the trainer chooses a model's: a threshold picked on few objects is noisy\): P [\d.]+ {2}R [\d.]+ {2}F1 [\d.]+ \(exodetect run --data-dir \S+ --model default --score-threshold [\d.]+ --size-gate 20,500 uses it\)\.$/m,
    );
    // The COCO file's polygons (the generator's outlines) reached the trainer: its metrics score sizes against them.
    const trained = JSON.parse(await readFile(path.join(root, 'coco-record', 'metrics.json'), 'utf8')) as { validation: Record<string, unknown> };
    expect(trained.validation).toHaveProperty('sizing_n');
    expect(trained.validation).toHaveProperty('outline_diameter_median_abs_rel_error');
    const card = await readFile(path.join(root, 'coco-record', 'card.md'), 'utf8');
    expect(card).toContain('Outline head: 32 star-convex rays');
    // The card (the store's, and its local copy) ends with what went through the inference path, the same words the command printed.
    const inferencePath = card.slice(card.indexOf('## Through the inference path'));
    const printed = lines.find((l) => / held-out images? through the inference path: AP50/.test(l))!;
    expect(inferencePath).toContain(printed.trim());
    expect(result.stdout).toMatch(/^Trained in \d+(?: min \d+)? s \(the validated run and the refit\)\.$/m);

    const run = await exodetect(['run', path.join(dataset, 'images'), '--out', path.join(root, 'coco-run')], store);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.split('\n')[0]).toBe(`Model: the bundled default model, as no model has been trained and promoted here (${BUNDLED_MODEL_CAVEAT})`);
    // Named on the command line: the version and what it was trained on; the bundled one with its caveat.
    const namedRun = await exodetect(['run', path.join(dataset, 'images'), '--model', version, '--out', path.join(root, 'coco-run-named')], store);
    expect(namedRun.stdout.split('\n')[0]).toBe(`Model: version ${version}, trained on dataset coco-set`);
    const bundled = await exodetect(['run', path.join(dataset, 'images'), '--model', 'default', '--out', path.join(root, 'coco-run-default')], store);
    expect(bundled.stdout.split('\n')[0]).toBe(`Model: the bundled default model (${BUNDLED_MODEL_CAVEAT})`);

    // The folder changes: one image and its annotations go; the next run mirrors it and says so.
    const coco = JSON.parse(await readFile(path.join(dataset, 'annotations.coco.json'), 'utf8')) as Coco;
    const gone = coco.images.pop()!;
    coco.annotations = coco.annotations.filter((a) => a.image_id !== gone.id);
    await writeFile(path.join(dataset, 'annotations.coco.json'), JSON.stringify(coco));
    await unlink(path.join(dataset, gone.file_name));
    const again = await exodetect(['train', dataset, '--init-from', 'none', ...TINY], store);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.split('\n')[0]).toBe(`Dataset coco-set: 1 changed (annotations.coco.json), 1 removed (${gone.file_name}); 8 files unchanged.`);
    expect(again.stdout).toMatch(/Split: train \d images .*, validation \d images?/);
    expect(again.stdout).not.toContain(gone.file_name.replace('images/', '') + ':');
  }, TRAINER_TIMEOUT_MS);

  it('trains on one makesense.ai CSV for the whole folder', async () => {
    const dataset = path.join(root, 'makesense-set');
    synthDataset(dataset);
    const coco = JSON.parse(await readFile(path.join(dataset, 'annotations.coco.json'), 'utf8')) as Coco;
    const byId = new Map(coco.images.map((i) => [i.id, i]));
    const rows = coco.annotations.map((a) => {
      const im = byId.get(a.image_id)!;
      return `exosome,${a.bbox.join(',')},${path.posix.basename(im.file_name)},${im.width},${im.height}`;
    });
    await writeFile(path.join(dataset, 'labels_my-project.csv'), `${rows.join('\n')}\n`);
    await unlink(path.join(dataset, 'annotations.coco.json'));
    const result = await exodetect(['train', dataset, '--init-from', 'none', ...TINY], path.join(root, 's3-makesense'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/Split: train \d images \(\d+ objects\), validation \d images?/);
    expect(result.stdout).toMatch(/^ {2}Model \S+'s validated run \(the same recipe without the held-out images\), on the \d held-out images? through the inference path: AP50/m);
  }, TRAINER_TIMEOUT_MS);

  // Ctrl-C reaches the trainer too (the terminal signals the whole process group); `kill` or a closed terminal
  // reaches the command alone, which must stop the trainer itself.
  it.each([
    { how: 'Ctrl-C', signal: 'SIGINT', toGroup: true, code: 130, said: 'Interrupted' },
    { how: 'kill', signal: 'SIGTERM', toGroup: false, code: 143, said: 'Stopped \\(SIGTERM\\)' },
  ] as const)('stops on $how after an epoch, says so, stops the trainer and leaves no copy of the data behind but the dataset', async ({ signal, toGroup, code, said }) => {
    const dataset = path.join(root, `interrupted-set-${signal}`);
    synthDataset(dataset);
    const hyperparameters = TINY.map((h) => (h === 'epochs=1' ? 'epochs=500' : h));
    // Its own process group, as a terminal runs it.
    const child = spawn(process.execPath, [path.join(REPO, 'bin', 'exodetect.js'), 'train', dataset, '--init-from', 'none', ...hyperparameters, '--data-dir', path.join(root, `s3-interrupted-${signal}`)], {
      cwd: root,
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (/epoch 1\/500/.test(stdout)) resolve();
      }),
    );
    process.kill(toGroup ? -child.pid! : child.pid!, signal);
    expect(await exited).toBe(code);
    const message = new RegExp(
      `^${said} after epoch (\\d+) of 500: no model was registered or promoted, and this run's copies of the data were removed \\(the trainer's scratch folder (\\S+); the store's (training/\\S+/) \\(\\d+ files\\); (\\S+)\\)\\. The dataset stays in the store; the same command trains again from the start\\.$`,
      'm',
    ).exec(stderr);
    expect(message, stderr).not.toBeNull();
    const [scratch, runRoot, record] = [message![2]!, message![3]!, message![4]!];
    expect(existsSync(scratch)).toBe(false);
    expect(existsSync(path.join(root, `s3-interrupted-${signal}`, 'exodetect-data', runRoot))).toBe(false);
    expect(existsSync(record)).toBe(false);
    expect(existsSync(path.join(root, `s3-interrupted-${signal}`, 'exodetect-data', 'datasets'))).toBe(true);
    // The trainer (SM_BASE_DIR is its scratch folder) is gone within a few seconds.
    const deadline = Date.now() + 10_000;
    while (trainersOf(scratch).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(trainersOf(scratch)).toEqual([]);
  }, TRAINER_TIMEOUT_MS);

  it('fails when a third of the boxes lie outside their images, and says which and where', async () => {
    const dataset = path.join(root, 'bad-set');
    synthDataset(dataset);
    const file = path.join(dataset, 'annotations.coco.json');
    const coco = JSON.parse(await readFile(file, 'utf8')) as Coco;
    coco.annotations.forEach((a, i) => {
      if (i % 3 === 0) a.bbox = [1000 + i, 20, 30, 30];
    });
    await writeFile(file, JSON.stringify(coco, null, 1));
    const out = path.join(root, 'bad-record');
    const result = await exodetect(['train', dataset, '--init-from', 'none', ...TINY, '--out', out], path.join(root, 's3-bad'));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^\d+ problems \(\d+ annotations skipped\)(, the first 10)?:$/m);
    expect(result.stdout).toMatch(/^ {2}annotations\.coco\.json:\d+: box \[1000\.0, 20\.0, 1030\.0, 50\.0\] outside the 160x160 image images\/synth_\d+\.png$/m);
    expect(result.stdout).toMatch(/^Training FAILED: AlgorithmError: AnnotationError: channel '(train|validation)': \d+ of \d+ annotations\/images are bad \([\d.]+% > max_bad_annotation_fraction 10\.0%\)$/m);
    expect(result.stdout).toContain(`The trainer's whole message: ${path.join(out, 'failure.txt')}`);
    expect(await readFile(path.join(out, 'failure.txt'), 'utf8')).toMatch(/^States\.TaskFailed: AlgorithmError: AnnotationError: .*\n {2}annotations\.coco\.json:\d+: box/s);
    const listed = (await readFile(path.join(out, 'problems.txt'), 'utf8')).trim().split('\n');
    expect(listed).toHaveLength(Math.ceil(coco.annotations.length / 3));
  }, TRAINER_TIMEOUT_MS);

  it('refuses a folder of images without labels, naming the folder, before copying anything into the store', async () => {
    const dataset = path.join(root, 'unlabelled');
    synthDataset(dataset, 2);
    for (const f of await readdir(dataset)) if (f.endsWith('.json')) await unlink(path.join(dataset, f));
    const store = path.join(root, 's3-unlabelled');
    const result = await exodetect(['train', dataset], store);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${dataset} holds 2 images but no annotation files (YOLO .txt, COCO .json, VOC .xml, makesense .csv)`);
    expect(result.stderr).toContain(`\`exodetect run ${dataset}\` detects without training`);
    expect(await readdir(store).catch(() => [])).toEqual([]);
  }, TRAINER_TIMEOUT_MS);
});
