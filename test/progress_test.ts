import assert from "node:assert/strict";
import { percent, progressBar, truncated } from "@/progress.ts";
import { checkpointName, type RoundMetrics } from "@/run/checkpoint.ts";
import { useKernel } from "@/display.ts";

Deno.test("progress in a notebook: one display, redrawn in place, ending at the total", async () => {
  const sent: { type: string; content: Record<string, unknown> }[] = [];
  useKernel({ broadcast: (type, content) => (sent.push({ type, content }), Promise.resolve()) });
  try {
    const bar = progressBar("decode", 100);
    for (let i = 1; i <= 100; i++) bar.update(i);
    bar.done();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    useKernel(undefined);
  }
  assert.equal(sent[0].type, "display_data");
  assert.ok(sent.length >= 2 && sent.length < 10, `throttled: ${sent.length} messages`);
  assert.ok(sent.slice(1).every((m) => m.type === "update_display_data"));
  const ids = new Set(sent.map((m) => (m.content.transient as { display_id: string }).display_id));
  assert.equal(ids.size, 1, "one display");
  const last = (sent.at(-1)!.content.data as Record<string, string>)["text/plain"];
  assert.match(last, /^decode █+ 100\/100 /);
});

Deno.test("progress: a phase that ends at once shows its real rate, never '-- it/s'", async () => {
  const sent: string[] = [];
  useKernel({
    broadcast: (_type, content) => {
      sent.push((content.data as Record<string, string>)["text/plain"]);
      return Promise.resolve();
    },
  });
  try {
    const bar = progressBar("predict", 4, "photo");
    bar.update(1); // too early for a rate: none shown
    bar.done();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    useKernel(undefined);
  }
  assert.ok(sent.every((line) => !line.includes("--")), sent.join("\n"));
  assert.match(sent[0], /^predict █+░+ 1\/4 00:00$/);
  assert.match(sent.at(-1)!, /^predict █+ 4\/4 \d[\d.]* photo\/s 00:00<00:00$/);
});

Deno.test("accuracies are cut to the checkpoint names' digits, never rounded past them", () => {
  const m = { main: 0.77819, aux: 0.5, blend: 2 / 3, alpha: 0.5 };
  assert.equal(truncated(m.main), "0.7781");
  assert.equal(percent(m.main), "77.81%");
  assert.equal(percent(m.blend), "66.66%");
  assert.equal(percent(0.29), "29.00%", "a float just under its decimal stays on it");
  assert.equal(
    checkpointName(1, m as RoundMetrics),
    "round01-main0.7781-aux0.5000-blend0.6666-alpha0.50",
  );
});
