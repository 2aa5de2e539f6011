/**
 * Multi-threaded wasm (lib/wasm_threads.ts): the same numbers as one thread, a process that
 * exits by itself, and a one-thread fallback that says why. Each case is its own process, since
 * a backend is chosen once per process.
 */
import assert from "node:assert/strict";
import { writeWorkerScript } from "@/engine/wasm_threads.ts";

const PROBE = new URL("../fixtures/threads_probe.ts", import.meta.url).pathname;

interface Probe {
  backend: string;
  threads: number;
  message: string;
  leaked: number;
  [kernel: string]: unknown;
}

async function probe(
  threads: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<Probe> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PROBE, ...args],
    env: { TFJS_THREADS: threads, TFJS_BACKEND: "wasm", ...env },
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  // A pthread pool that kept the process alive would hang here: give it a deadline.
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `probe exited ${out.code} (signal ${out.signal}): ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

function maxRelativeError(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  const scale = Math.max(...b.map(Math.abs), 1e-6);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / scale;
}

const KERNELS = ["matmul", "conv", "depthwise", "gradInput", "gradFilter", "gradDepthwise"];

Deno.test("wasm threads: 2 threads give one thread's results and exit on their own", async () => {
  const [one, two] = await Promise.all([probe("1"), probe("2")]);
  assert.equal(one.backend, "wasm");
  assert.equal(one.threads, 1);
  assert.match(one.message, /WebAssembly \(tfjs-backend-wasm\), 1 thread;/);
  assert.equal(two.threads, 2, two.message);
  assert.match(two.message, /WebAssembly \(tfjs-backend-wasm\), 2 threads;/);
  for (const kernel of KERNELS) {
    const error = maxRelativeError(two[kernel] as number[], one[kernel] as number[]);
    assert.ok(error < 1e-5, `${kernel}: max relative difference ${error}`);
  }
  assert.equal(one.leaked, 0);
  assert.equal(two.leaked, 0);
});

Deno.test("wasm threads: more than the pre-started pool gives the pool's count, and says so", async () => {
  const many = await probe("12");
  // tfjs 4.22's emscripten glue starts 8 pthread workers up front.
  assert.equal(many.threads, 8, many.message);
  assert.match(many.message, /8 threads \(12 asked, at most 8 start\);/);
  assert.ok((many.matmul as number[]).every(Number.isFinite));
});

Deno.test("wasm threads: without SharedArrayBuffer it runs on one thread and says why", async () => {
  const fallback = await probe("2", ["--no-sab"]);
  assert.equal(fallback.backend, "wasm");
  assert.equal(fallback.threads, 1);
  assert.match(fallback.message, /1 thread \(threads unavailable: no SharedArrayBuffer\)/);
  assert.equal(fallback.message.split("\n").length, 1);
  assert.ok((fallback.matmul as number[]).every(Number.isFinite));
});

Deno.test("wasm threads: TFJS_THREADS must be a whole number", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PROBE],
    env: { TFJS_THREADS: "two" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.notEqual(out.code, 0);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /TFJS_THREADS 'two': expected a whole number from 1 to 1024/,
  );
});

Deno.test("wasm threads: the worker script is never at a name another user can plant or swap", async () => {
  // The shared temp folder of this probe: a file planted there under any name is never loaded,
  // and nothing is left there once the pool runs.
  const tmp = await Deno.makeTempDir({ prefix: "dogs-test-tmp-" });
  const planted = `${tmp}/tfjs-wasm-threads-4.22.0-planted.worker.cjs`;
  await Deno.writeTextFile(planted, "throw new Error('planted worker ran');");
  const two = await probe("2", [], { TMPDIR: tmp });
  assert.equal(two.threads, 2, two.message);
  const left = (await Array.fromAsync(Deno.readDir(tmp))).map((e) => e.name);
  assert.deepEqual(left, ["tfjs-wasm-threads-4.22.0-planted.worker.cjs"], "nothing else left");
  await Deno.remove(tmp, { recursive: true });

  // Where it goes instead: a fresh folder per call, only its owner may enter.
  const shim = (await import(
    "npm:@tensorflow/tfjs-backend-wasm@4.22.0/wasm-out/" +
      "tfjs-backend-wasm-threaded-simd.worker.js"
  )).default.wasmWorkerContents as string;
  const [a, b] = [await writeWorkerScript(shim), await writeWorkerScript(shim)];
  assert.notEqual(a.path, b.path);
  for (const script of [a, b]) {
    const folder = await Deno.stat(script.path.replace(/\/[^/]+$/, ""));
    assert.equal(folder.mode! & 0o777, 0o700);
    assert.equal(folder.uid, Deno.uid());
    assert.match(await Deno.readTextFile(script.path), /postMessage/);
    await script.remove();
    assert.equal(await Deno.stat(script.path).catch(() => undefined), undefined);
  }
});
