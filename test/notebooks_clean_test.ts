/**
 * Committed notebooks are clean: no outputs, no execution counts, and the exact form Jupyter
 * saves (keys sorted, one-space indent, a final newline, the Deno kernel's own metadata), so
 * opening one does not mark it changed and a diff shows only what a person edited.
 * To clean after running: `jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

/** Jupyter's form: nbformat writes json.dumps(sort_keys=True, indent=1) plus a newline. */
function canonical(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v && typeof v === "object"
      ? Object.fromEntries(
        Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
      )
      : v;
  return JSON.stringify(sorted(value), null, 1) + "\n";
}

const names = (await Array.fromAsync(Deno.readDir("notebooks")))
  .map((e) => e.name).filter((n) => n.endsWith(".ipynb")).sort();

Deno.test("notebooks are committed without outputs, in the form Jupyter saves", async () => {
  assert.ok(names.length >= 6);
  for (const name of names) {
    const text = await Deno.readTextFile(join("notebooks", name));
    const nb = JSON.parse(text);
    for (const cell of nb.cells.filter((c: { cell_type: string }) => c.cell_type === "code")) {
      assert.deepEqual(cell.outputs, [], `${name} ${cell.id}: outputs committed`);
      assert.equal(cell.execution_count, null, `${name} ${cell.id}: execution count committed`);
    }
    assert.equal(nb.metadata.kernelspec.name, "deno", name);
    assert.equal(nb.metadata.language_info.codemirror_mode, "typescript", name);
    assert.ok(
      text === canonical(nb),
      `${name}: not in Jupyter's form (run nbconvert --clear-output)`,
    );
  }
});
