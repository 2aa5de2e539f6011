import assert from "node:assert/strict";
import { join } from "node:path";
import { barChart, figureHtml, lineChart, showFigure, writeFigure } from "@/plot/figure.ts";
import { tempDir } from "../fixtures.ts";

/** Loads a page in headless Chromium and returns the DOM after its scripts ran. */
async function renderedDom(file: string): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
  try {
    const out = await new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        `--user-data-dir=${profile}`,
        "--virtual-time-budget=10000",
        "--dump-dom",
        `file://${file}`,
      ],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout);
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

Deno.test("plot: a written figure renders offline in headless Chromium (an SVG plot with our bars)", async () => {
  const dir = await tempDir();
  const file = join(dir, "counts.html");
  await writeFigure(
    barChart(["beagle", "dingo"], [123, 45], { title: "photos per breed" }),
    file,
    "counts",
  );
  const html = await Deno.readTextFile(file);
  assert.ok(!/<script[^>]+src=/.test(html), "no external script: the bundle is inline");
  const dom = await renderedDom(file);
  assert.match(dom, /<svg class="main-svg"/, "Plotly drew its SVG");
  assert.match(dom, /class="point"/, "bars are drawn");
  assert.match(dom, /photos per breed/);
  assert.match(dom, /beagle/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("plot: notebook display inlines the bundle once per session, then only the drawing script", () => {
  const first = showFigure(lineChart([{ name: "loss", x: [1, 2], y: [3, 2] }]));
  const second = showFigure(lineChart([{ name: "acc", x: [1, 2], y: [0.5, 0.7] }]));
  const html = (d: object) =>
    (d as Record<symbol, () => Record<string, string>>)
      [Symbol.for("Jupyter.display")]()["text/html"];
  assert.ok(html(first).length > 1_000_000, "first figure carries plotly.js");
  assert.ok(html(second).length < 10_000, "later figures reuse window.Plotly");
  assert.match(html(second), /window\.Plotly\.newPlot/);
  const hostile = figureHtml({ data: [{ name: "</script><b>x" }] }, false);
  assert.equal(hostile.split("</script>").length, 2, "a trace name cannot close the script early");
});
