/**
 * Environment variables are options: a bad value is one line naming the variable, before a
 * command writes anything, in the CLI and in the notebooks' helpers alike.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { envChoice, envInteger, envNumber } from "@/env.ts";
import { notebookMinutes } from "@/paths.ts";
import { planBudget } from "@/train/budget.ts";
import { PRESETS } from "@/run/presets.ts";
import { UsageError } from "@/errors.ts";
import { decode, makeColourDataset, SHARED_MOBILENET, tempDir } from "./fixtures.ts";

function withEnv<T>(name: string, value: string, work: () => T): T {
  Deno.env.set(name, value);
  try {
    return work();
  } finally {
    Deno.env.delete(name);
  }
}

Deno.test("env: choices, whole numbers and ranges read like options", () => {
  const refused = (work: () => unknown, message: string) =>
    assert.throws(work, (e: Error) => e instanceof UsageError && e.message === message);
  assert.equal(
    withEnv("X_TEST", " TFJS ", () => envChoice("X_TEST", ["auto", "tfjs"], "auto")),
    "tfjs",
  );
  assert.equal(withEnv("X_TEST", "", () => envChoice("X_TEST", ["auto", "tfjs"], "auto")), "auto");
  refused(
    () => withEnv("X_TEST", "gpu", () => envChoice("X_TEST", ["auto", "tfjs"], "auto")),
    "X_TEST 'gpu': expected one of auto, tfjs",
  );
  refused(
    () => withEnv("X_TEST", "1.5", () => envInteger("X_TEST", { min: 1 }, 2)),
    "X_TEST '1.5': expected a whole number from 1 up",
  );
  for (const bad of ["Infinity", "1e9", "0", "-3", "five"]) {
    refused(
      () => withEnv("DOGS_MINUTES", bad, notebookMinutes),
      `DOGS_MINUTES '${bad}': expected minutes above 0, at most 10080`,
    );
  }
  assert.equal(withEnv("DOGS_MINUTES", "2.5", notebookMinutes), 2.5);
  assert.equal(withEnv("X_TEST", "0.5", () => envNumber("X_TEST", { above: 0, max: 1 })), 0.5);
  // A notebook's budget is named as the notebook's user asked for it.
  assert.throws(
    () =>
      planBudget(
        PRESETS.cpu,
        0.2,
        { photos: 9025, val: 806, test: 899, flip: false, transfer: true, predicts: true },
        1,
        undefined,
        "DOGS_MINUTES=0.2",
      ),
    /^UsageError: DOGS_MINUTES=0\.2: even the smallest plan/,
  );
});

Deno.test("env: a bad variable stops a command with one line naming it, before anything is written", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeColourDataset(data);
  const found = await new Deno.Command("find", {
    args: ["node_modules/.deno/", "-name", "tfjs_binding.node"],
    stdout: "piped",
  }).output();
  assert.equal(
    decode(found.stdout),
    "",
    "premise: tfjs-node's binding is not built (setup:native)",
  );
  const cases: [Record<string, string>, RegExp][] = [
    [{ DOGS_ENGINE: "gpu" }, /^error: DOGS_ENGINE 'gpu': expected one of auto, onnxruntime, tfjs$/],
    [{ TFJS_BACKEND: "cuda" }, /^error: TFJS_BACKEND 'cuda': expected one of auto, node-gpu, /],
    [
      { TFJS_THREADS: "two" },
      /^error: TFJS_THREADS 'two': expected a whole number from 1 to 1024$/,
    ],
    [{ TFJS_THREADS: "0" }, /^error: TFJS_THREADS '0': expected a whole number from 1 to 1024$/],
    [{ DOGS_DECODER: "fast" }, /^error: DOGS_DECODER 'fast': expected one of auto, sharp$/],
    [{ DOGS_CACHE_GB: "-1" }, /^error: DOGS_CACHE_GB '-1': expected a size in GB above 0/],
    [{ DOGS_SMALL: "yes" }, /^error: DOGS_SMALL 'yes': expected one of 0, 1$/],
    [{ DOGS_MINUTES: "Infinity" }, /^error: DOGS_MINUTES 'Infinity': expected minutes above 0/],
    [
      { TFJS_BACKEND: "node" },
      /^error: TFJS_BACKEND=node: native binding not installed \(`deno task setup:native`\)$/,
    ],
  ];
  for (const [env, expected] of cases) {
    const out = join(dir, "run");
    const args = ["--small", "--data", data, "--out", out, "--weights", SHARED_MOBILENET];
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "lib/cli/train.ts", ...args],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = decode(result.stderr).trim();
    assert.equal(result.code, 2, `${JSON.stringify(env)}:\n${stderr}`);
    const lines = stderr.split("\n").filter((l) => l.startsWith("error"));
    assert.equal(lines.length, 1, stderr);
    assert.ok(!/\bat .*\.ts:\d+/.test(stderr), `no stack:\n${stderr}`);
    assert.match(lines[0], expected, JSON.stringify(env));
    assert.equal(await Deno.stat(out).catch(() => undefined), undefined, "nothing written");
  }
  await Deno.remove(dir, { recursive: true });
});
