/**
 * Stop in a notebook. Jupyter's Stop button sends SIGINT to the kernel process, and Deno's kernel
 * dies of it: every variable gone, a restart and a run-all to get back (measured). The message
 * form of interrupt (`interrupt_mode: message`) is worse: Deno 2.9.6's kernel wedges on it, with
 * no more output and a later SIGINT ignored, so only a restart gets it back. While the project's
 * long work runs in a notebook (training, trunk caching), it listens for SIGINT itself: the work
 * stops at its next step with `StoppedError`, the kernel and its variables stay, and running the
 * cell again resumes after the last checkpoint. Outside that work Stop does what it always did.
 * On the command line nothing changes: Ctrl-C ends the process and the same command resumes.
 */
import { jupyter } from "./display.ts";

/** The work was stopped by the notebook's Stop button. */
export class StoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoppedError";
  }
}

let asked = false;
let depth = 0;
const onInterrupt = () => {
  asked = true;
};

/** Runs `work` with Stop listened for (in a notebook kernel); nested calls share one listener. */
export async function stoppable<T>(work: () => Promise<T>): Promise<T> {
  if (!jupyter()) return await work();
  if (depth++ === 0) {
    asked = false;
    Deno.addSignalListener("SIGINT", onInterrupt);
  }
  try {
    return await work();
  } finally {
    if (--depth === 0) {
      Deno.removeSignalListener("SIGINT", onInterrupt);
      asked = false;
    }
  }
}

/** Throws `StoppedError` if Stop was pressed: called between steps of long work. */
export function checkStop(where: string): void {
  if (asked) {
    // Left set until the outer work ends: every loop of it (the trunk workers' too) stops.
    throw new StoppedError(
      `stopped (Stop pressed) ${where}; the kernel and its variables are kept: run the cell ` +
        "again to resume after the last checkpoint",
    );
  }
}
