/**
 * Reading a scale-bar label with tesseract.js and the English data of
 * @tesseract.js-data/eng (shipped with the package: nothing is downloaded).
 * One worker per process (a Lambda container keeps it across invocations):
 * starting one costs ~0.4 s, a label then ~0.1-0.2 s.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Worker } from 'tesseract.js';

export interface OcrReading {
  readonly text: string;
  /** 0..100, tesseract's own. */
  readonly confidence: number;
}

/** What the scale-bar reader needs from an OCR engine (tests can pass their own). */
export interface LabelOcr {
  /** `png`: a black-on-white image of one line of text. */
  read(png: Buffer): Promise<OcrReading>;
}

const require = createRequire(import.meta.url);
/** Characters scale-bar labels use; the recogniser picks only among these. */
const LABEL_CHARACTERS = '0123456789.,nmuµμÅ ';

let shared: Promise<Worker> | undefined;
/** Labels being read now. */
let reading = 0;
/** A worker whose core or language data cannot load may never answer (tesseract.js 7): give up on it. */
const WORKER_START_TIMEOUT_MS = 30_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The worker thread behind a tesseract.js worker (Node); undefined if its internals change. */
function thread(worker: Worker): { ref(): void; unref(): void } | undefined {
  const inner = (worker as unknown as { worker?: { ref?: () => void; unref?: () => void } }).worker;
  return typeof inner?.ref === 'function' && typeof inner.unref === 'function' ? (inner as { ref(): void; unref(): void }) : undefined;
}

async function startWorker(): Promise<Worker> {
  const { createWorker, OEM, PSM } = await import('tesseract.js');
  // The LSTM-only integer model (2.9 MB; the package's default folder also holds the legacy engine, 10.9 MB):
  // it read every label the default read.
  const langPath = path.join(path.dirname((require('@tesseract.js-data/eng') as { langPath: string }).langPath), '4.0.0_best_int');
  // Without an errorHandler tesseract.js throws a failed job's error from an event handler, which ends the
  // process; with one, the job's promise still rejects and the caller decides.
  const worker = await createWorker('eng', OEM.LSTM_ONLY, { langPath, gzip: true, cacheMethod: 'none', errorHandler: () => undefined });
  await worker.setParameters({ tessedit_pageseg_mode: PSM.SINGLE_LINE, tessedit_char_whitelist: LABEL_CHARACTERS, user_defined_dpi: '300' });
  // An idle worker must not keep a process alive (a script that calls the handler, a test); it is held while it works.
  thread(worker)?.unref();
  return worker;
}

/** The process's tesseract worker, started on first use and reused for every image after. */
export const tesseractOcr: LabelOcr = {
  async read(png: Buffer): Promise<OcrReading> {
    shared ??= withTimeout(startWorker(), WORKER_START_TIMEOUT_MS, 'the OCR worker (tesseract.js) did not start').catch((err: unknown) => {
      shared = undefined;
      throw err;
    });
    const worker = await shared;
    // Held while any label is being read: several images may be read at once, and the thread may only be
    // let go when the last of them is done (else a process with nothing else to wait on ends mid-read).
    if (reading++ === 0) thread(worker)?.ref();
    try {
      const { data } = await worker.recognize(png);
      return { text: data.text.trim(), confidence: data.confidence };
    } finally {
      if (--reading === 0) thread(worker)?.unref();
    }
  },
};

/** Ends the shared worker (CLI runs and tests end with it; a Lambda container never needs to). */
export async function stopTesseract(): Promise<void> {
  const worker = shared;
  shared = undefined;
  if (worker) await (await worker).terminate();
}
