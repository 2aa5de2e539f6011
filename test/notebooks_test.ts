/**
 * Every notebook executes headless under the Deno kernel on a small slice of the data
 * (`DOGS_SMALL=1`), as a reader would run it top to bottom: a cell that throws fails the test, and
 * every cell that shows something must have produced its display output.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const notebooks = (await Array.fromAsync(Deno.readDir("notebooks")))
  .map((e) => e.name)
  .filter((n) => n.endsWith(".ipynb"))
  .sort();

interface Cell {
  cell_type: string;
  id: string;
  source: string[] | string;
  outputs?: { output_type: string; data?: Record<string, unknown>; ename?: string }[];
}

async function kernels(): Promise<Set<string>> {
  const out = await new Deno.Command("pgrep", {
    args: ["-f", "deno jupyter --kernel"],
    stdout: "piped",
  }).output();
  return new Set(new TextDecoder().decode(out.stdout).split("\n").filter(Boolean));
}

for (const name of notebooks) {
  Deno.test(`notebook ${name} executes headless with its figures`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "nb-" });
    const before = await kernels();
    try {
      const run = await new Deno.Command("jupyter", {
        args: [
          "nbconvert",
          "--to",
          "notebook",
          "--execute",
          "--ExecutePreprocessor.timeout=1200",
          `--output-dir=${dir}`,
          join("notebooks", name),
        ],
        env: { DOGS_SMALL: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, `nbconvert failed:\n${stderr.slice(-3000)}`);
      const executed = JSON.parse(await Deno.readTextFile(join(dir, name))) as { cells: Cell[] };
      const code = executed.cells.filter((c) => c.cell_type === "code");
      assert.ok(code.length > 0);
      for (const cell of code) {
        const source = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
        const outputs = cell.outputs ?? [];
        assert.ok(!outputs.some((o) => o.output_type === "error"), `cell ${cell.id} raised`);
        const shows = (source.match(/await show(Figure|Images|Table|Batch)?\(/g) ?? []).length;
        const displayed = outputs.filter((o) =>
          o.output_type === "display_data" && o.data?.["text/html"]
        ).length;
        assert.ok(
          displayed >= shows,
          `cell ${cell.id}: ${shows} displays expected, ${displayed} present`,
        );
      }
    } finally {
      // The kernel can outlive nbconvert; end any this test started.
      for (const pid of await kernels()) if (!before.has(pid)) Deno.kill(Number(pid), "SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  });
}
