/** `deno task serve DIR`: serves an export folder on this machine, with the headers that give the
 * page onnxruntime-web's threads. */
import { serveFolder } from "../predict/serve.ts";
import { exportFiles } from "../layout.ts";
import { DataError, UsageError } from "../errors.ts";
import { exists } from "../files.ts";
import { given, integerOption, parseCli } from "./run_args.ts";
import { runMain, say } from "./main.ts";

const HELP = `Usage: deno task serve [--port N] [--host ADDRESS] DIR

Serves an export folder (deno task export's --out) until stopped (Ctrl-C), with the headers that
let its page run onnxruntime-web on several threads (COOP/COEP).

  --port N          the port (default 8000; 0: any free one)
  --host ADDRESS    where to listen (default 127.0.0.1: this machine only; 0.0.0.0 shows the
                    page and the model to the whole network, though browsers open the camera
                    only for https or this machine's own pages)`;

await runMain(async () => {
  const { values, positionals } = parseCli(HELP, {
    port: { type: "string" },
    host: { type: "string" },
  });
  if (positionals.length !== 1) throw new UsageError("name one export folder (see --help)");
  const [dir] = positionals;
  if (!(await exists(exportFiles(dir).page))) {
    throw new DataError(dir, "no index.html: not an export folder (deno task export --out)");
  }
  const port = given(values.port, (v) => integerOption("port", v)) ?? 8000;
  const server = serveFolder(dir, { hostname: values.host ?? "127.0.0.1", port });
  say(`serving ${dir} at ${server.origin}/ (Ctrl-C stops)`);
  await new Promise(() => {});
});
