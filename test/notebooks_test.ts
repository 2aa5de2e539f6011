/**
 * Every notebook runs under a real Deno kernel on a small slice of the data (`DOGS_SMALL=1`), the
 * way people use notebooks (test/fixtures/drive_notebook.py): each cell run twice in a row, then
 * the whole notebook top to bottom once more. A cell that throws in any of those fails the test;
 * every cell that shows something must have produced its display output; the values each notebook
 * computes are checked; and the whole pass holds no more tensors than there were before it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolve } from "node:path";
import { readRows, readTable } from "@/data/table.ts";
import { makeColourDataset, SHARED_MOBILENET } from "./fixtures.ts";
import {
  endKernelsOf,
  type Notebook,
  PLOTLY_FILE,
  renderPage,
  withoutTimings,
} from "@/plot/render.ts";

/** The shared weights from anywhere (the kernel runs in notebooks/). */
const SHARED_MOBILENET_ABSOLUTE = resolve(SHARED_MOBILENET);

const notebooks = (await Array.fromAsync(Deno.readDir("notebooks")))
  .map((e) => e.name)
  .filter((n) => n.endsWith(".ipynb"))
  .sort();

// The notebooks' runs and decoded photos go to a fresh folder per test run (DOGS_RUNS, DOGS_CACHE):
// 03 trains for real every time, and nothing of an earlier run on this machine is reused or
// refused, or left behind in the project.
// 04 and 05 continue 03's run, so the notebooks run in order within one test run.
const RUNS = await Deno.makeTempDir({ prefix: "nb-runs-" });
globalThis.addEventListener("unload", () => Deno.removeSync(RUNS, { recursive: true }));

/** Values each notebook must have produced, beyond "no error and some HTML". */
const CHECKS: Record<string, (outputs: string, report: Report) => void | Promise<void>> = {
  "01_data.ipynb": async () => {
    const split = await readTable(join(RUNS, "notebook-01", "split.tsv"));
    assert.equal(split.length, 9025, "every ImageWoof photo in train, val or test");
    const test = split.filter((r) => r.subset === "test").length;
    assert.ok(test > 850 && test < 950, `a 10% test part, got ${test}`);
  },
  "02_augmentation.ipynb": (outputs) => {
    assert.match(outputs, /breeds: [^"]+ \(a, b, c\) and [^"]+/);
  },
  "03_fine_tuning.ipynb": async (_, report) => {
    // Restart & Run All on the finished run: the round's end by hand gives the record's numbers.
    const restarted = JSON.stringify(report.restarted);
    const row = (pass: string) =>
      new RegExp(`<tr><td>${pass}</td>((?:<td>[^<]*</td>){4})</tr>`).exec(restarted)?.[1];
    const recorded = row("round \\d+, as recorded");
    assert.ok(recorded, "the by-hand table after a restart");
    assert.equal(row("the same pass, run again now"), recorded, "after a restart, as recorded");
    const run = join(RUNS, "notebook-cpu-small", "train");
    const history = JSON.parse(await Deno.readTextFile(join(run, "metrics.json")));
    assert.equal(history.length, 3, "one round per stage (small preset)");
    const names = (await Array.fromAsync(Deno.readDir(join(run, "checkpoints")))).map((e) =>
      e.name
    );
    assert.ok(names.length > 0);
    for (const name of names) {
      assert.match(name, /^round\d{2}-main\d\.\d{4}-aux\d\.\d{4}-blend\d\.\d{4}-alpha\d\.\d{2}$/);
    }
    const split = await readTable(join(run, "split.tsv"));
    assert.equal(split.length, 400, "the small slice: 40 photos of each of 10 breeds");
    // The step by hand is the API's step.
    const hand = /weights within (\d\.\de[-+]\d+) of the ones worked out by hand/.exec(restarted);
    assert.ok(hand && Number(hand[1]) < 1e-5, `the step by hand against the API's: ${hand?.[1]}`);
    // Each stage's curve is read in a sentence, from the round before it.
    assert.match(
      restarted,
      /Stage fine-tune \(round 2\): the validation blend went from [\d.]+% \(the round before\)/,
    );
  },
  "04_head_blending.ipynb": (outputs) => {
    assert.match(outputs, /blend, alpha = [01]\.\d\d/);
  },
  "05_transfer_and_submission.ipynb": async (outputs) => {
    // Changes split three ways: a wrong-to-wrong change is neither fixed nor broken.
    assert.match(
      outputs,
      /\d+ of \d+ blended predictions changed: \d+ wrong → right, \d+ right → wrong, \d+ wrong → another wrong breed/,
    );
    // The pool by hand is the transfer's own.
    assert.match(
      outputs,
      /The pool: \d+ photos, \d+% of them pseudo-labelled \(\d+ wrong\)\. trainingPool gives the same \d+/,
    );
    // One transfer step by hand, from a batch of the pool, is the API's step.
    const step =
      /(\d+) of the batch's 32 samples hold a pseudo-labelled test photo[^]*?weights within (\d\.\de[-+]\d+) of the hand's/
        .exec(outputs);
    assert.ok(step && Number(step[1]) > 0, `pseudo-labelled photos in the batch: ${step?.[1]}`);
    assert.ok(Number(step[2]) < 1e-5, `the transfer step by hand against the API's: ${step[2]}`);
    const out = join(RUNS, "notebook-cpu-small");
    const test = (await readTable(join(out, "train", "split.tsv"))).filter((r) =>
      r.subset === "test"
    );
    for (const head of ["main", "aux", "blend"]) {
      const rows = await readRows(join(out, "submissions", `submission_${head}.txt`), {
        delimiter: "\t",
      });
      assert.equal(rows.length, test.length, `${head}: one line per test photo`);
    }
  },
  "06_using_the_model.ipynb": async (outputs) => {
    const home = join(RUNS, "notebook-06-small");
    const model = await Deno.readTextFile(join(home, "export", "model.json"));
    assert.ok(!model.includes('"BatchNormalization"'));
    assert.match(outputs, /no BatchNormalization: true/);
    const rows = await readRows(join(home, "ensemble", "submission_blend.txt"), {
      delimiter: "\t",
    });
    const test = (await readTable(join(home, "seed0", "train", "split.tsv")))
      .filter((r) => r.subset === "test");
    assert.equal(rows.length, test.length);
    // The ONNX models loaded back: fp32 to the project's numbers, the int8 trade-off computed.
    const match = /fp32 matches the project to (\d\.\de[-+]\d+)/.exec(outputs);
    assert.ok(match && Number(match[1]) < 1e-4, `fp32 ONNX against the project: ${match?.[1]}`);
    assert.match(outputs, /int8 is \d+\.\dx smaller; on the \d+ (test|validation) photos/);
    // Accuracies in one format (not "1" beside "0.9167").
    const ensembleTable = /Three breeds, stage 1 only[^]*$/.exec(outputs)?.[0] ?? "";
    assert.equal(
      ensembleTable.match(/<td>\d{1,3}\.\d%<\/td>/g)?.length,
      3,
      "three accuracies as percents",
    );
  },
  "07_what_each_part_is_worth.ipynb": (outputs) => {
    assert.match(outputs, /(Beyond noise: .+|No variant differs from the full recipe)/);
    assert.match(
      outputs,
      /A photo's distance to its breed's mean, as a share of the distance between breeds' means: \d\.\d\d with the center loss, \d\.\d\d without\./,
    );
  },
};

/** Notebooks whose every pass computes the same outputs (none trains on its first). */
const SAME_EVERY_PASS = ["01_data.ipynb", "02_augmentation.ipynb", "04_head_blending.ipynb"];

/** Notebooks also run once more after a kernel restart (their checks read those outputs). */
const RESTARTED = ["03_fine_tuning.ipynb"];

interface Cell {
  cell_type: string;
  id: string;
  source: string[] | string;
  outputs?: { output_type: string; data?: Record<string, unknown>; ename?: string }[];
}

Deno.test("notebook tests end only their own kernels", async () => {
  const runtime = await Deno.makeTempDir({ prefix: "nb-runtime-" });
  const fake = (conn: string) =>
    new Deno.Command("bash", {
      args: ["-c", `exec -a "deno jupyter --kernel --conn ${conn}" sleep 60`],
    }).spawn();
  const users = fake("/root/.local/share/jupyter/runtime/kernel-user.json");
  const ours = fake(join(runtime, "kernel-test.json"));
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await endKernelsOf(runtime), [ours.pid]);
  assert.equal((await ours.status).signal, "SIGKILL");
  assert.ok(await Deno.stat(`/proc/${users.pid}`).then(() => true, () => false), "user's kernel");
  users.kill("SIGKILL");
  await users.status;
  await Deno.remove(runtime, { recursive: true });
});

for (const name of notebooks) {
  Deno.test(`notebook ${name}: runs, runs each cell twice, runs again, holds no more tensors`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "nb-" });
    // Its own Jupyter runtime folder: the kernel's connection file, and so its command line,
    // names it, which is how the cleanup below finds this test's kernel and no one else's.
    const runtime = join(dir, "runtime");
    try {
      const run = await new Deno.Command("/usr/bin/python3", {
        args: [
          "test/fixtures/drive_notebook.py",
          join("notebooks", name),
          ...(RESTARTED.includes(name) ? ["--restart"] : []),
        ],
        signal: AbortSignal.timeout(900_000),
        env: {
          DOGS_SMALL: "1",
          DOGS_RUNS: RUNS,
          DOGS_CACHE: join(RUNS, "cache"),
          JUPYTER_RUNTIME_DIR: runtime,
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, `the notebook driver failed:\n${stderr.slice(-3000)}`);
      const report = JSON.parse(new TextDecoder().decode(run.stdout)) as Report;
      assert.deepEqual(report.errors, [], "no cell raised, in any pass");
      const sources = await codeCells(name);
      assert.equal(report.cells.length, sources.length);
      for (const [i, cell] of report.cells.entries()) {
        const shows = (sources[i].match(/await show(Figure|Images|Table|Batch)?\(/g) ?? []).length;
        const displayed = cell.outputs.filter((o) =>
          o.output_type === "display_data" && o.data?.["text/html"]
        ).length;
        assert.ok(
          displayed >= shows,
          `cell ${cell.id}: ${shows} displays expected, ${displayed} present`,
        );
      }
      const [first, second] = report.tensors;
      assert.ok(Number.isInteger(first) && Number.isInteger(second), `tensors: ${report.tensors}`);
      assert.equal(second, first, "running all again keeps no more tensors than before it");
      const text = JSON.stringify(report.cells.map((c) => c.outputs));
      await CHECKS[name]?.(text, report);
      const page = await checkRendered(name, report.cells);
      // Rendered again, a notebook whose cells compute the same things makes the same page but
      // for its timings: `deno task render` leaves it alone. (03, 05 and 06 train on their first
      // pass and load on the last.)
      if (SAME_EVERY_PASS.includes(name)) {
        const again = await checkRendered(name, report.again!);
        // One kernel numbers its charts on: a fresh kernel per render gives both pages the same.
        const serials = (html: string) => withoutTimings(html).replace(/plot-\w+-\d+/g, "plot");
        assert.equal(serials(again), serials(page), "the same page but for timings");
      }
    } finally {
      await endKernelsOf(runtime);
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** The page `deno task render` makes of these outputs: under 1 MB, Plotly loaded once from the file
 * beside it and no embedded copy, no script from elsewhere, no path of this machine. */
async function checkRendered(name: string, cells: Report["cells"]): Promise<string> {
  const notebook = JSON.parse(await Deno.readTextFile(join("notebooks", name))) as Notebook;
  let k = 0;
  for (const cell of notebook.cells) {
    if (cell.cell_type === "code") {
      cell.outputs = cells[k++].outputs as Notebook["cells"][number]["outputs"];
    }
  }
  const html = await renderPage(notebook, name);
  assert.ok(html.length < 1_000_000, `${name} renders to ${html.length} bytes`);
  assert.equal(html.match(/<script src="[^"]*"/g)?.join(), `<script src="${PLOTLY_FILE}"`);
  assert.ok(!html.includes("__plotlyLoading"), "no embedded Plotly bundle");
  assert.ok(!html.includes("file://") && !html.includes(Deno.cwd()), "no machine paths");
  const figures = (html.match(/window\.Plotly\.newPlot/g) ?? []).length;
  const shown =
    cells.flatMap((c) => c.outputs).filter((o) =>
      JSON.stringify(o).includes("window.Plotly.newPlot")
    ).length;
  assert.equal(figures, shown, "every figure on the page");
  return html;
}

interface Report {
  cells: { id: string; outputs: Cell["outputs"] & object[] }[];
  /** With --restart: the outputs of Restart & Run All after the passes. */
  restarted?: Report["cells"];
  /** The outputs of the last run-all pass. */
  again?: Report["cells"];
  errors: string[];
  tensors: (number | null)[];
  seconds: number[];
}

/** The sources of a notebook's code cells, in order. */
async function codeCells(name: string): Promise<string[]> {
  const notebook = JSON.parse(await Deno.readTextFile(join("notebooks", name))) as {
    cells: Cell[];
  };
  return notebook.cells.filter((c) => c.cell_type === "code")
    .map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source));
}

Deno.test("notebook Stop: a training cell stops at its next step, the kernel and its variables stay", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nb-stop-" });
  const runtime = join(dir, "runtime");
  try {
    await makeColourDataset(join(dir, "data"));
    const settings = {
      data: join(dir, "data"),
      out: join(dir, "run"),
      cache: join(dir, "cache"),
      weights: SHARED_MOBILENET_ABSOLUTE,
    };
    const run = await new Deno.Command("/usr/bin/python3", {
      args: ["test/fixtures/stop_notebook.py", JSON.stringify(settings)],
      env: { JUPYTER_RUNTIME_DIR: runtime },
      signal: AbortSignal.timeout(300_000),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr).slice(-3000));
    const report = JSON.parse(new TextDecoder().decode(run.stdout));
    assert.equal(report.stopped.status, "error", JSON.stringify(report));
    assert.match(
      report.stopped.error,
      /StoppedError: stopped \(Stop pressed\) in round \d, after step \d+/,
    );
    assert.ok(report.stopped.seconds < 10, `stopped within a step (${report.stopped.seconds} s)`);
    assert.equal(report.alive, true, "the kernel lives");
    assert.equal(report.kept, true, "its variables too");
    assert.deepEqual(
      report.again,
      { status: "ok", error: null },
      "the cell again finishes the run",
    );
    const history = JSON.parse(await Deno.readTextFile(join(dir, "run", "metrics.json")));
    assert.equal(history.length, 3);
  } finally {
    await endKernelsOf(runtime);
    await Deno.remove(dir, { recursive: true });
  }
});
