/**
 * Backend selection, asserted against what this host really has: the first candidate in order
 * that could start is the one chosen, every one before it is skipped with a reason, and the
 * one-line notice says which and, for wasm, on how many threads.
 */
import assert from "node:assert/strict";
import { BACKEND_REQUESTS, chooseEngine, initBackend, tf, worthSaying } from "@/engine/tf.ts";

Deno.test("backend: the first candidate that starts is chosen, the others say why not", async () => {
  const forced = Deno.env.get("TFJS_BACKEND");
  const choice = await initBackend({ quiet: true });
  assert.equal(tf.getBackend(), choice.backend);
  assert.equal(choice.message.split("\n").length, 1);
  if (forced && forced !== "auto") {
    assert.equal(choice.via, forced);
    assert.deepEqual(choice.skipped, []);
  } else {
    // auto: the candidates before the chosen one, in order, each skipped with a reason.
    const order = BACKEND_REQUESTS.filter((r) => r !== "auto");
    const before = order.slice(0, order.indexOf(choice.via));
    assert.deepEqual(choice.skipped.map((s) => s.candidate), before);
    for (const s of choice.skipped) {
      assert.ok(s.reason.length > 0, `${s.candidate} skipped without a reason`);
      assert.equal(
        choice.message.includes(`${s.candidate} (${s.reason})`),
        worthSaying(s),
        choice.message,
      );
    }
    if (before.includes("node-gpu")) {
      assert.match(choice.skipped[0].reason, /deno task setup:gpu|cannot load/);
    }
  }
  assert.ok(choice.message.length < 140, `one short line: ${choice.message}`);
  if (choice.via === "wasm") {
    const wanted = Number(Deno.env.get("TFJS_THREADS") || navigator.hardwareConcurrency || 1);
    const plural = choice.threads === 1 ? "thread" : "threads";
    assert.match(choice.message, new RegExp(`WebAssembly .*, ${choice.threads} ${plural}`));
    // All the threads asked for, or the notice says why not.
    if (choice.threads !== wanted) assert.ok(choice.threadsNote, choice.message);
  } else {
    assert.equal(choice.threads, 1);
  }
  assert.deepEqual(Array.from(tf.add(tf.tensor([1, 2]), 1).dataSync()), [2, 3]);
});

Deno.test("backend: the notice names what failed, and the CUDA build only where a GPU is", () => {
  const missing = (candidate: string, task: string) => ({
    candidate,
    reason: `native binding not installed (\`deno task ${task}\`)`,
  });
  assert.equal(worthSaying(missing("node-gpu", "setup:gpu"), false), false, "no GPU: no hint");
  assert.equal(worthSaying(missing("node-gpu", "setup:gpu"), true), true, "a GPU: the hint");
  assert.equal(worthSaying(missing("node", "setup:native"), true), false);
  assert.equal(worthSaying({ candidate: "webgpu", reason: "no GPU device" }), false);
  assert.equal(worthSaying({ candidate: "node", reason: "cannot load: libtensorflow.so" }), true);
  assert.equal(worthSaying({ candidate: "webgpu", reason: "failed to initialise: x" }), true);
});

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A child Deno with a clean environment (no XDG_RUNTIME_DIR, as in root shells, SSH, CI). */
function child(code: string, env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", ...env },
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("backend: the GPU probe keeps the drivers' noise to itself; the notice is the one line", async () => {
  // Mesa's Vulkan drivers (CI installs them, as every desktop has them) print to the terminal of
  // a process that asks for an adapter without XDG_RUNTIME_DIR: the probe's child takes that.
  const lib = new URL("../../lib/engine/tf.ts", import.meta.url).href;
  const webgpu = new URL("../../lib/engine/webgpu.ts", import.meta.url).href;
  const probe = await child(
    `import { probeAdapter } from "${webgpu}"; console.log(JSON.stringify(await probeAdapter()));`,
  ).output();
  assert.equal(decode(probe.stderr), "", "nothing on this process's stderr");
  const found = JSON.parse(decode(probe.stdout));
  assert.ok(typeof found === "string" || typeof found.software === "boolean", decode(probe.stdout));
  for (const backend of ["auto", "webgpu"]) {
    const started = await child(
      `import { initBackend } from "${lib}"; await initBackend();`,
      { TFJS_BACKEND: backend },
    ).output();
    const stderr = decode(started.stderr);
    assert.equal(started.code, 0, stderr);
    assert.equal(stderr.trim().split("\n").length, 1, `${backend}: only the notice:\n${stderr}`);
    assert.match(stderr, /^\[tfjs\] backend: /);
    if (backend === "webgpu") assert.match(stderr, /WebGPU \(tfjs-backend-webgpu\) on /);
  }
});

Deno.test("engine: ONNX Runtime beside wasm or cpu, tfjs beside a native backend or when it cannot load", async () => {
  const version = () => Promise.resolve("1.30.0");
  const broken = () => Promise.reject(new Error("libonnxruntime.so.1: cannot open shared object"));
  assert.deepEqual(await chooseEngine("auto", "wasm", version), {
    engine: "onnxruntime",
    note: "forward passes on ONNX Runtime 1.30.0",
  });
  assert.equal((await chooseEngine("auto", "node-gpu", version)).engine, "tfjs");
  assert.equal((await chooseEngine("onnxruntime", "webgpu", version)).engine, "onnxruntime");
  assert.deepEqual(await chooseEngine("tfjs", "wasm", version), {
    engine: "tfjs",
    note: "forward passes on tfjs (DOGS_ENGINE=tfjs)",
  });
  // Cannot load: the fallback, with the reason in the notice; asked for by name, an error.
  assert.deepEqual(await chooseEngine("auto", "cpu", broken), {
    engine: "tfjs",
    note: "forward passes on tfjs (ONNX Runtime cannot load: libonnxruntime.so.1: cannot open " +
      "shared object)",
  });
  await assert.rejects(
    chooseEngine("onnxruntime", "wasm", broken),
    /DOGS_ENGINE=onnxruntime, but ONNX Runtime cannot load: libonnxruntime/,
  );
  // This process: the real package loads, and the notice names it.
  const choice = await initBackend({ quiet: true });
  if (["wasm", "cpu"].includes(choice.via) && !Deno.env.get("DOGS_ENGINE")) {
    assert.equal(choice.engine, "onnxruntime", choice.message);
    assert.match(choice.message, /; forward passes on ONNX Runtime 1\.30\.0$/);
  }
});
