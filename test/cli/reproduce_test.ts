import assert from "node:assert/strict";
import { join } from "node:path";
import { readSplit } from "@/data/prepare.ts";
import { readTable } from "@/data/table.ts";
import { makeImageFolder, tempDir } from "../fixtures.ts";

Deno.test("deno task reproduce: data steps write a consistent run folder and say what is not done", async () => {
  const dir = await tempDir();
  const data = join(dir, "dogs");
  await makeImageFolder(data, { "15": 20, "3": 11, "7": 1 });
  await Deno.writeTextFile(join(data, "3", "broken.jpg"), "not a jpeg");
  const out = join(dir, "run");
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "lib/cli/reproduce.ts",
      "--data",
      data,
      "--out",
      out,
      "--size",
      "16",
      "--cache-dir",
      join(dir, "cache"),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(run.stdout);
  assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
  assert.match(stdout, /train \d+, val \d+, test \d+/);
  assert.match(stdout, /skipped 1 unusable files/);
  assert.match(stdout, /broken\.jpg: .*cannot decode image/);
  assert.match(stdout, /Not done yet: training/);

  const split = await readSplit(out);
  assert.deepEqual(split.labels.labels, ["3", "7", "15"]);
  // Class 15: 20 -> 2 test, then 18 -> 1 val; the single photo of class 7 stays in train.
  const count = (items: { label: string }[], label: string) =>
    items.filter((i) => i.label === label).length;
  assert.equal(count(split.train, "15"), 17);
  assert.equal(count(split.val, "15"), 1);
  assert.equal(count(split.train, "7"), 1);
  assert.equal(count(split.train, "3") + count(split.val, "3"), 11 - (split.test.length - 2));
  const answers = await readTable(join(out, "test_answers.tsv"));
  assert.deepEqual(answers.map((a) => a.id).sort(), split.test.map((t) => t.id).sort());
  const all = [...split.train, ...split.val, ...split.test].map((i) => i.id);
  assert.equal(new Set(all).size, all.length, "subsets are disjoint");
  assert.equal(all.length, 32, "every good photo in exactly one subset, the broken one in none");
  await Deno.remove(dir, { recursive: true });
});
