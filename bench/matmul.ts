/**
 * Run by `bench/speed.ts` in a child process per thread count (the backend is chosen once per
 * process): GFLOP/s of a 1024x1024 float32 matmul and of a 3x3 convolution on the wasm backend,
 * with TFJS_THREADS from the environment. Prints one JSON line.
 *
 *   TFJS_THREADS=2 deno run -A bench/matmul.ts [--repeats 3]
 */
import { initBackend, tf } from "../lib/engine/tf.ts";
import { benchArgs, count, median } from "./common.ts";

const HELP = `Usage: TFJS_THREADS=N deno run -A bench/matmul.ts [--repeats N]

GFLOP/s of a 1024x1024 float32 matmul and a 3x3 convolution on tfjs' wasm backend, on the
threads TFJS_THREADS asks for (bench:speed runs it once per thread count). One JSON line.

  --repeats N    repeats, the median printed (default 3)`;

const { values } = benchArgs(HELP, { repeats: { type: "string", default: "3" } });
const repeats = count("repeats", values.repeats);
const choice = await initBackend({ request: "wasm", quiet: true });

function gflops(flop: number, f: () => tf.Tensor, calls = 8): number {
  f().dispose();
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) f().dispose();
    rates.push((calls * flop) / ((performance.now() - start) / 1000) / 1e9);
  }
  return median(rates);
}

const a = tf.randomNormal([1024, 1024], 0, 1, "float32", 1) as tf.Tensor2D;
const b = tf.randomNormal([1024, 1024], 0, 1, "float32", 2) as tf.Tensor2D;
const x = tf.randomNormal([32, 56, 56, 32], 0, 1, "float32", 3) as tf.Tensor4D;
const w = tf.randomNormal([3, 3, 32, 64], 0, 1, "float32", 4) as tf.Tensor4D;
console.log(JSON.stringify({
  threads: choice.threads,
  matmul: gflops(2 * 1024 ** 3, () => tf.matMul(a, b)),
  conv: gflops(2 * 32 * 56 * 56 * 9 * 32 * 64, () => tf.conv2d(x, w, 1, "same"), 4),
}));
