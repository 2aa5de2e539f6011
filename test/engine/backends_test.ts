/**
 * The WebGPU code path, run for real: on a machine without a GPU, Mesa's software Vulkan adapter
 * (llvmpipe, from `mesa-vulkan-drivers`, which CI installs) runs tfjs' WebGPU backend. The
 * project's model gives the same predictions, loss terms and updated weights after one stage-2
 * step there as on the pure-JavaScript cpu backend, the reference.
 */
import assert from "node:assert/strict";

const STEP = new URL("../fixtures/backend_step.ts", import.meta.url).pathname;

interface Step {
  backend: string;
  message: string;
  probabilities: number[];
  loss: Record<"total" | "main" | "center" | "aux", number>;
  updated: { name: string; before: number[]; after: number[] }[];
}

async function step(backend: string): Promise<Step> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", STEP],
    env: { TFJS_BACKEND: backend },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${backend}: ${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

const maxDifference = (a: number[], b: number[]) =>
  Math.max(...a.map((v, i) => Math.abs(v - b[i])));

Deno.test("WebGPU backend: the model's forward pass and one training step match the cpu backend", async () => {
  const [gpu, cpu] = await Promise.all([step("webgpu"), step("cpu")]);
  assert.equal(gpu.backend, "webgpu");
  assert.equal(cpu.backend, "cpu");
  assert.match(gpu.message, /WebGPU \(tfjs-backend-webgpu\) on /);
  assert.ok(maxDifference(gpu.probabilities, cpu.probabilities) < 1e-4, "probabilities");
  for (const term of ["total", "main", "center", "aux"] as const) {
    const [g, c] = [gpu.loss[term], cpu.loss[term]];
    assert.ok(Math.abs(g - c) <= 1e-4 * Math.max(1, Math.abs(c)), `loss ${term}: ${g} vs ${c}`);
  }
  assert.deepEqual(gpu.updated.map((w) => w.name), cpu.updated.map((w) => w.name));
  assert.ok(gpu.updated.some((w) => w.name === "Conv_1/kernel"), "an unfrozen block is watched");
  for (const [i, w] of gpu.updated.entries()) {
    const reference = cpu.updated[i];
    assert.ok(maxDifference(w.before, reference.before) === 0, `${w.name}: same start`);
    assert.ok(maxDifference(reference.after, reference.before) > 1e-5, `${w.name}: it moved`);
    const off = maxDifference(w.after, reference.after);
    assert.ok(off < 1e-5, `${w.name}: ${off} from the cpu backend's update`);
  }
});
