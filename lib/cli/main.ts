/**
 * How every `deno task` ends on an error. A problem with the input (a file, an option, a run
 * folder) is one line, `error: <file>[:<line>]: <problem>`, and exit status 2: a person can act on
 * it without reading a stack trace. Anything else is a bug and keeps its stack trace (exit 1);
 * `DEBUG=1` shows the stack for input errors too.
 */
import { isUserError } from "../data/errors.ts";

export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    if (isUserError(error) && Deno.env.get("DEBUG") !== "1") {
      console.error(`error: ${error.message}`);
      Deno.exit(2);
    }
    throw error;
  }
}
