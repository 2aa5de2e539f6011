import assert from "node:assert/strict";
import { initBackend, tf } from "@/tf.ts";

Deno.test("backend: falls back to wasm on this machine and says why the better ones were skipped", async () => {
  const forced = Deno.env.get("TFJS_BACKEND");
  const choice = await initBackend({ quiet: true });
  if (forced && forced !== "auto") {
    assert.equal(choice.via, forced);
    return;
  }
  // This project's CI machines have neither native TensorFlow nor a hardware GPU adapter.
  assert.equal(choice.backend, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.deepEqual(choice.skipped.map((s) => s.candidate), ["node-gpu", "node", "webgpu"]);
  assert.match(choice.skipped[0].reason, /deno task setup:gpu/);
  assert.equal(choice.message.split("\n").length, 1);
  assert.match(choice.message, /^\[tfjs\] backend: WebAssembly .* not node-gpu \(/);
  assert.deepEqual(Array.from(tf.add(tf.tensor([1, 2]), 1).dataSync()), [2, 3]);
});
