import type * as ort from 'onnxruntime-node';

/**
 * One session.run at a time per session: a run already uses every intra-op thread, so two
 * images in flight take turns at the model while the other decodes, draws or talks to S3.
 * Turns go to the image that asked first (lowest `priority`), not round-robin by tile: a tiled
 * image then finishes its tiles and draws its overlay while the next image runs, instead of
 * every image in flight reaching its overlay together and leaving the model idle.
 */
interface Waiter {
  readonly priority: number;
  readonly start: () => void;
}

interface Turns {
  busy: boolean;
  readonly waiting: Waiter[];
}

const turnsBySession = new WeakMap<ort.InferenceSession, Turns>();

export async function exclusiveRun<T>(session: ort.InferenceSession, fn: () => Promise<T>, priority = Number.MAX_SAFE_INTEGER): Promise<T> {
  let turns = turnsBySession.get(session);
  if (!turns) {
    turns = { busy: false, waiting: [] };
    turnsBySession.set(session, turns);
  }
  if (turns.busy) {
    await new Promise<void>((start) => {
      // Stable: equal priorities keep their arrival order.
      const at = turns.waiting.findIndex((w) => w.priority > priority);
      turns.waiting.splice(at < 0 ? turns.waiting.length : at, 0, { priority, start });
    });
  }
  turns.busy = true;
  try {
    return await fn();
  } finally {
    const next = turns.waiting.shift();
    if (next) next.start();
    else turns.busy = false;
  }
}
