/**
 * Progress bars for the `exodetect` command and the demo (cli-progress on a
 * terminal; one line per step otherwise, so logs stay readable in CI).
 */
import cliProgress from 'cli-progress';

export interface ProgressBar {
  update(value: number): void;
  stop(): void;
}

export interface ProgressProps {
  readonly label: string;
  readonly total: number;
  /** Default: process.stderr. */
  readonly stream?: NodeJS.WriteStream;
}

export function progressBar(props: ProgressProps): ProgressBar {
  const stream = props.stream ?? process.stderr;
  if (!stream.isTTY) {
    let last = -1;
    return {
      update(value) {
        // Quarter steps and the end only: a line per image would drown the log.
        const step = Math.floor((value / Math.max(1, props.total)) * 4);
        if (step !== last) {
          last = step;
          stream.write(`${props.label}: ${value}/${props.total}\n`);
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: `${props.label.padEnd(18)} [{bar}] {value}/{total} {percentage}% | {duration_formatted}`, stream, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(props.total, 0);
  return {
    update: (value) => bar.update(value),
    stop: () => bar.stop(),
  };
}

/** Hides the AWS SDK's "Node >= 22 from 2027" notice: nothing a user of this command can act on. */
export function quietNodeVersionNotice(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
