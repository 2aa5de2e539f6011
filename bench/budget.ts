/**
 * Whether `--minutes` keeps its promise: the whole job (`deno task reproduce --minutes M`) in a
 * fresh folder per budget, timed from the command's start to its end, on this machine as it is or
 * with another process busy on one core for the whole run (`--load`: a laptop that other work
 * shares). Prints the wall time against the budget, and the test part's accuracy.
 */
import { join } from "node:path";
import { benchArgs } from "./common.ts";
import { fromRoot } from "../lib/paths.ts";
import { percent } from "../lib/progress.ts";

const HELP = `Usage: deno task bench:budget [--minutes 2,5,10] [--load] [--out DIR]

  --minutes LIST  budgets, comma-separated (default 2,5,10)
  --load          a busy loop on one core for each whole job (default: none; check the machine
                  is idle first, uptime)
  --out DIR       job folders, emptied first (default data/runs/budget)`;

const { values } = benchArgs(HELP, {
  minutes: { type: "string" },
  load: { type: "boolean" },
  out: { type: "string" },
});
const budgets = (values.minutes ?? "2,5,10").split(",").map(Number);
const out = values.out ?? fromRoot("data", "runs", "budget");

console.log(`load average before: ${(await Deno.readTextFile("/proc/loadavg")).trim()}`);
console.log("| budget | load | wall | of the budget | test blend before / after transfer |");
console.log("| --- | --- | --- | --- | --- |");
for (const minutes of budgets) {
  const dir = join(out, `${minutes}min${values.load ? "-load" : ""}`);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  const hog = values.load
    ? new Deno.Command("sh", { args: ["-c", "while :; do :; done"] }).spawn()
    : undefined;
  const started = performance.now();
  const job = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/cli/reproduce.ts", "--minutes", String(minutes), "--out", dir],
    stdout: "null",
    stderr: "piped",
  }).output().finally(() => hog?.kill("SIGKILL"));
  const wall = (performance.now() - started) / 1000;
  if (job.code !== 0) {
    throw new Error(new TextDecoder().decode(job.stderr).trim().split("\n").at(-1));
  }
  const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
  const pct = (x: number | undefined) => (x === undefined ? "-" : percent(x));
  console.log(
    `| ${minutes} min | ${values.load ? "one core busy" : "idle"} | ${wall.toFixed(0)} s | ` +
      `${(100 * wall / (60 * minutes)).toFixed(0)}% | ${pct(summary.scores.before.blend)} / ` +
      `${pct(summary.scores.after?.blend)} |`,
  );
}
