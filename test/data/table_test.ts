import assert from "node:assert/strict";
import { join } from "node:path";
import { readRows, readTable, writeTable } from "@/data/table.ts";
import { DataError } from "@/errors.ts";
import { tempDir } from "../fixtures.ts";

Deno.test("tables: ids are opaque in TSV: spaces, quotes and commas round-trip byte for byte", async () => {
  const dir = await tempDir();
  const ids = [" lead", "trail ", " both ", 'qu"ote', '"quoted"', "a,b", "#hash", ""];
  const file = join(dir, "t.tsv");
  await writeTable(file, ids.map((id) => ({ id, label: "x" })), { columns: ["id", "label"] });
  assert.deepEqual((await readTable(file)).map((r) => r.id), ids);
  // Plain TSV on disk: what another tool reads, with no quoting added.
  assert.equal((await Deno.readTextFile(file)).split("\n")[5], '"quoted"\tx');
  const lines = join(dir, "s.txt");
  await writeTable(lines, ids.map((id) => ["7", id]));
  assert.deepEqual((await readRows(lines)).map((r) => r[1]), ids);
  // Windows line ends read as line ends, nothing else trimmed.
  await Deno.writeTextFile(lines, "7\t a \r\n8\tb\n");
  assert.deepEqual(await readRows(lines), [["7", " a "], ["8", "b"]]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("tables: a field a TSV line cannot carry is refused by name, nothing written", async () => {
  const dir = await tempDir();
  const file = join(dir, "t.tsv");
  for (const bad of ["a\tb", "a\nb", "a\rb"]) {
    await assert.rejects(writeTable(file, [["1", "ok"], ["2", bad]]), (e: Error) => {
      assert.ok(e instanceof DataError);
      assert.equal(
        e.message,
        `${file}: row 2: ${JSON.stringify(bad)} holds a tab or a line break, which a ` +
          "tab-separated line cannot carry",
      );
      return true;
    });
  }
  assert.equal(await Deno.stat(file).catch(() => undefined), undefined);
  await Deno.remove(dir, { recursive: true });
});
