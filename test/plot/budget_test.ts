/**
 * The accuracy-per-minute figure's input: the committed bench result reads, and a missing,
 * damaged or foreign file is one error naming it and what to do.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { accuracyPerMinute, readAccuracyBench } from "@/plot/budget.ts";
import { DataError } from "@/errors.ts";
import { tempDir } from "../fixtures.ts";

Deno.test("accuracy bench: the committed result draws both curves, ours twice", async () => {
  const bench = await readAccuracyBench();
  assert.ok(bench.ours.length > 0 && bench.torch.length > 0);
  const figure = JSON.stringify(accuracyPerMinute(bench));
  for (const name of ["PyTorch fine-tune", "this project (--minutes)", "before transfer"]) {
    assert.ok(figure.includes(name), name);
  }
});

Deno.test("accuracy bench: a missing, damaged or foreign file is a DataError naming it", async () => {
  const dir = await tempDir();
  const file = join(dir, "accuracy.json");
  const fails = async (problem: RegExp) => {
    const error = await readAccuracyBench(file).then(() => undefined, (e) => e);
    assert.ok(error instanceof DataError, String(error));
    assert.ok(error.message.startsWith(file), error.message);
    assert.match(error.message, problem);
    assert.match(error.message, /bench:accuracy/);
  };
  await fails(/no such file/);
  await Deno.writeTextFile(file, '{"ours": [');
  await fails(/damaged/);
  await Deno.writeTextFile(file, '{"ours": []}');
  await fails(/not a bench:accuracy result/);
  await Deno.remove(dir, { recursive: true });
});
