/**
 * Backend selection, asserted against what this host really has: the first candidate in order
 * that could start is the one chosen, every one before it is skipped with a reason, and the
 * one-line notice says which and, for wasm, on how many threads.
 */
import assert from "node:assert/strict";
import { BACKEND_REQUESTS, initBackend, tf } from "@/tf.ts";

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
      assert.ok(choice.message.includes(`${s.candidate} (${s.reason})`), choice.message);
    }
    if (before.includes("node-gpu")) {
      assert.match(choice.skipped[0].reason, /deno task setup:gpu|cannot load/);
    }
  }
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
