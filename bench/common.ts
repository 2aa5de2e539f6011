/**
 * What the benchmarks share: the same sample of photos on every run, medians, sharp decoding as
 * the project does it, and MobileNetV2-0.35's frozen trunk on one wasm worker per core.
 */
import { tf } from "../lib/engine/tf.ts";
import type { ImageCache } from "../lib/data/cache.ts";
import type { LabelledImage } from "../lib/data/dataset.ts";
import { DecodePool } from "../lib/data/decode_pool.ts";
import { loadImage } from "../lib/data/image.ts";
import { readImageFolder } from "../lib/data/readers.ts";
import { defaultDataset, defaultWeights, fromRoot } from "../lib/paths.ts";
import { Rng } from "../lib/rng.ts";
import { TrunkPool } from "../lib/train/trunk_pool.ts";
import { integerOption, parseCli } from "../lib/cli/run_args.ts";
import { checkEnvironment } from "../lib/cli/main.ts";
import { UsageError } from "../lib/errors.ts";

type CliOptions = Parameters<typeof parseCli>[1];

/**
 * A benchmark's command line, parsed as the tasks' are: `--help` prints `help`, an unknown option
 * or a bad value (and a bad environment variable) is one line and exit status 2, before anything
 * is measured.
 */
export function benchArgs<const T extends CliOptions>(
  help: string,
  options: T,
  { positionals = false } = {},
) {
  try {
    checkEnvironment();
    return parseCli(help, options, Deno.args, positionals);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exit(2);
  }
}

/** The checkouts a cross-version benchmark compares (default this one): each must hold `lib/`. */
export async function checkoutRoots(given: readonly string[]): Promise<string[]> {
  const roots = given.length ? [...given] : ["."];
  for (const root of roots) {
    if (!(await Deno.stat(`${root}/lib/mod.ts`).catch(() => undefined))) {
      console.error(`error: ${root}: not a checkout of this project (no lib/mod.ts); see --help`);
      Deno.exit(2);
    }
  }
  return roots;
}

/** A whole number of at least `min` from an option's text (one line and exit 2 if not). */
export function count(name: string, value: string, min = 1): number {
  try {
    const n = integerOption(name, value);
    if (n < min) throw new UsageError(`--${name} '${value}': expected a whole number from ${min}`);
    return n;
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    Deno.exit(2);
  }
}

/** `count` training photos of an ImageFolder dataset, the same ones every run (seed 0). */
export async function samplePhotos(
  count: number,
  data = defaultDataset(),
): Promise<LabelledImage[]> {
  const listing = await readImageFolder(data);
  return new Rng(0).shuffle([...listing.train]).slice(0, count);
}

export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** Photos/s of sharp decode + center crop + nearest resize, 4 photos in flight. */
export async function sharpRate(
  photos: readonly { path: string }[],
  size: number,
): Promise<number> {
  const start = performance.now();
  let next = 0;
  let checksum = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < photos.length) {
      checksum += (await loadImage(photos[next++].path, { size })).data[0];
    }
  }));
  if (checksum < 0) throw new Error("unreachable");
  return photos.length / ((performance.now() - start) / 1000);
}

/** Photos/s of the decode pool (plain JPEGs by libjpeg-turbo on every core, the rest by sharp), as
 * the cache builds with it: two photos in flight per worker. */
export async function poolRate(photos: readonly { path: string }[], size: number): Promise<number> {
  const pool = new DecodePool();
  const start = performance.now();
  let next = 0;
  let checksum = 0;
  await Promise.all(Array.from({ length: 2 * pool.size }, async () => {
    let spare: Uint8Array | undefined; // as the cache does: each frame decoded into again
    while (next < photos.length) {
      const path = photos[next++].path;
      spare = await pool.decode(path, size, spare);
      checksum += (spare ?? (await loadImage(path, { size })).data)[0];
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  pool.close();
  if (checksum < 0) throw new Error("unreachable");
  return photos.length / seconds;
}

/** The pretrained MobileNetV2-0.35 (224) trunk, cut at `splitStage`, on `workers` workers of
 * `threads` threads each: tfjs wasm, or ONNX Runtime when its graph is given. */
export function mobileNetTrunkPool(
  cache: ImageCache,
  splitStage: string,
  workers: number,
  threads = 1,
  onnx?: Uint8Array,
): TrunkPool {
  return new TrunkPool({
    backend: tf.getBackend() as "wasm",
    onnx,
    threads,
    backbone: { name: "mobilenet_v2", alpha: 0.35, size: 224 },
    weights: defaultWeights(),
    splitStage,
    cache: cache.view,
  }, workers);
}

/** Runs a command to its end; its stdout and stderr together. A bench stopped meanwhile ends it
 * (`withChild`). */
export async function run(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<{ ok: boolean; out: string }> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).spawn();
  } catch (error) {
    return { ok: false, out: String(error) };
  }
  const r = await withChild(child, () => child.output());
  const text = new TextDecoder();
  return { ok: r.success, out: text.decode(r.stdout) + text.decode(r.stderr) };
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
const running = new Set<Deno.ChildProcess>();
const handlers = Object.entries(SIGNALS).map(([signal, number]) => ({
  signal: signal as keyof typeof SIGNALS,
  handler: () => {
    for (const child of running) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already ended
      }
    }
    Deno.exit(128 + number);
  },
}));

/**
 * `work` while `child` runs: a bench stopped by a signal (Ctrl-C, `kill`, a closed terminal) ends
 * its children first. A job left running would hold its run folder's lock and spend the cores of
 * the next measurement. The listeners are there only while a child is.
 */
export async function withChild<T>(child: Deno.ChildProcess, work: () => Promise<T>): Promise<T> {
  if (running.size === 0) {
    for (const { signal, handler } of handlers) Deno.addSignalListener(signal, handler);
  }
  running.add(child);
  try {
    return await work();
  } finally {
    running.delete(child);
    if (running.size === 0) {
      for (const { signal, handler } of handlers) Deno.removeSignalListener(signal, handler);
    }
  }
}

/** A deno task's command as `deno` arguments (each bench's job is `deno run -A FILE`), to run it
 * directly: ending a `deno task` process leaves the job it started running. */
export function taskArgs(task: string): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(fromRoot("deno.json"))).tasks;
  const [deno, ...args] = String(tasks[task] ?? "").split(" ");
  if (deno !== "deno" || args[0] !== "run") {
    throw new Error(`deno.json: task ${task} is not 'deno run ...'`);
  }
  return args;
}

/** A Python with PyTorch, and the environment its runs get. */
export interface Torch {
  python: string;
  env: Record<string, string>;
  /** e.g. "2.13.0+cpu, tcmalloc" */
  describe: string;
}

const TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4";

/** `python` with PyTorch (Debian's python3-torch and python3-pil installed with apt-get when
 * missing: root or sudo needed; or any Python given that has them, e.g. a venv with a current
 * wheel), or null when it cannot be had. Tuned as PyTorch's CPU guides tune it, so that the
 * competitor is not crippled by this machine: OpenBLAS, not the reference BLAS Debian's torch links
 * without recommends (a 1024x1024 matmul at 3.6 GFLOP/s on one core instead of 85), and tcmalloc
 * preloaded: with glibc's malloc each large tensor is a fresh mmap, and on these VMs a fresh page
 * costs ~7 us (a 154 MB elementwise op: 256 ms with glibc, 4.7 ms with tcmalloc), which left
 * PyTorch's BatchNorm half of its trunk's time. */
export async function ensureTorch(python: string): Promise<Torch | null> {
  const probe = ["-c", "import torch, PIL; print(torch.__version__)"];
  const ready = async () =>
    (await run("dpkg-query", ["-W", "libopenblas0-pthread", "libtcmalloc-minimal4"])).ok &&
    (await run(python, probe)).ok;
  if (!await ready()) {
    const packages = [
      "python3-torch",
      "python3-pil",
      "libopenblas0-pthread",
      "libtcmalloc-minimal4",
    ];
    console.error(`bench: installing ${packages.join(" ")} (Debian)`);
    const sudo = Deno.uid() === 0 ? [] : ["sudo"];
    const apt = [...sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends"];
    await run(apt[0], [...apt.slice(1), ...packages]);
  }
  const version = await run(python, probe);
  if (!version.ok) {
    console.error("bench: PyTorch unavailable, its columns are left out");
    return null;
  }
  const tcmalloc = await Deno.stat(TCMALLOC).then(() => true, () => false);
  const release = version.out.trim().split("\n").at(-1)!;
  // Debian's 1.13 trains the top step at well under half of 2.13's speed (bench/RESULTS.md): a
  // ratio against it flatters us.
  const old = Number(release.split(".")[0]) < 2;
  if (old) {
    console.error(
      `bench: PyTorch ${release} is old; current releases run the training steps much faster ` +
        "(--python with one, e.g. a venv with a current wheel)",
    );
  }
  return {
    python,
    env: tcmalloc ? { LD_PRELOAD: TCMALLOC } : {},
    describe: `PyTorch ${release}${old ? " (old: ratios flatter us)" : ""}${
      tcmalloc ? ", tcmalloc" : ""
    }`,
  };
}

/** The test-part scores a finished `deno task reproduce` wrote to its summary.json. */
export interface JobScores {
  before: { main: number; aux: number; blend: number };
  after?: { main: number; aux: number; blend: number };
  seconds: number;
}

/**
 * One whole job (`deno task reproduce --out dir ...args`) as its own process; a folder whose job
 * finished is read back instead (a cut-short bench resumes). Throws with the job's last line.
 */
export async function reproduceJob(dir: string, args: readonly string[]): Promise<JobScores> {
  const summaryFile = `${dir}/summary.json`;
  const done = await Deno.readTextFile(summaryFile).catch(() => undefined);
  if (!done) {
    // Its error is the last line: stderr comes after stdout in `run`'s output.
    const result = await run(Deno.execPath(), [...taskArgs("reproduce"), "--out", dir, ...args]);
    if (!result.ok) throw new Error(`${dir}: ${result.out.trim().split("\n").at(-1)}`);
  }
  const summary = JSON.parse(done ?? await Deno.readTextFile(summaryFile));
  return { ...summary.scores, seconds: summary.seconds };
}
