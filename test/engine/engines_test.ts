/**
 * The same small training run on both forward engines: ONNX Runtime (the default beside wasm) and
 * tfjs (`DOGS_ENGINE=tfjs`, what runs where ONNX Runtime cannot load). Trunk caching, the pooled
 * features and every validation pass take the other path; the runs must agree.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decode, makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

interface Row {
  round: number;
  metrics: { main: number; aux: number; blend: number; valLoss: number; loss: { total: number } };
}

async function trainWith(engine: string, data: string, out: string, cache: string) {
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "lib/cli/train.ts",
      "--small",
      "--data",
      data,
      "--out",
      out,
      "--cache-dir",
      cache,
      "--weights",
      SHARED_MOBILENET,
    ],
    env: { DOGS_ENGINE: engine },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = decode(run.stderr);
  assert.equal(run.code, 0, stderr.slice(-2000));
  const rows: Row[] = JSON.parse(await Deno.readTextFile(join(out, "metrics.json")));
  return { stderr, rows };
}

Deno.test("engines: a run on tfjs alone (the fallback) matches the run on ONNX Runtime", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);
  const native = await trainWith("onnxruntime", data, join(dir, "native"), cache);
  const fallback = await trainWith("tfjs", data, join(dir, "tfjs"), cache);
  assert.match(native.stderr, /; forward passes on ONNX Runtime \d+\.\d+\.\d+\n/);
  assert.match(fallback.stderr, /; forward passes on tfjs \(DOGS_ENGINE=tfjs\)\n/);
  assert.equal(native.rows.length, 3);
  assert.equal(fallback.rows.length, native.rows.length);
  for (const [i, a] of native.rows.entries()) {
    const b = fallback.rows[i].metrics;
    const near = (x: number, y: number) => Math.abs(x - y) <= 1e-3 * Math.max(1, Math.abs(y));
    for (const key of ["main", "aux", "blend"] as const) {
      assert.ok(
        near(a.metrics[key], b[key]),
        `round ${a.round} ${key}: ${a.metrics[key]} vs ${b[key]}`,
      );
    }
    assert.ok(near(a.metrics.valLoss, b.valLoss), `round ${a.round} val loss`);
    assert.ok(near(a.metrics.loss.total, b.loss.total), `round ${a.round} training loss`);
  }
  await Deno.remove(dir, { recursive: true });
});
