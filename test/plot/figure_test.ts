import assert from "node:assert/strict";
import { join } from "node:path";
import { barChart, figureHtml, lineChart, showFigure, writeFigure } from "@/plot/figure.ts";
import { useKernel } from "@/plot/display.ts";
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

Deno.test("plot: notebook display sends the plotly loader once per session, then only the drawing", async () => {
  // Stand in for the kernel's API, as `deno jupyter` provides it.
  const sent: { type: string; content: Record<string, unknown> }[] = [];
  const fake = {
    broadcast: (
      type: string,
      content: Record<string, unknown>,
    ) => (sent.push({ type, content }), Promise.resolve()),
  };
  useKernel(fake);
  try {
    await showFigure(lineChart([{ name: "loss", x: [1, 2], y: [3, 2] }], { title: "loss" }));
    await showFigure(lineChart([{ name: "acc", x: [1, 2], y: [0.5, 0.7] }]));
  } finally {
    useKernel(undefined);
  }
  assert.deepEqual(sent.map((m) => m.type), ["display_data", "display_data"]);
  const html = (i: number) => (sent[i].content.data as Record<string, string>)["text/html"];
  assert.ok(
    html(0).length > 1_000_000 && html(0).length < 3_500_000,
    "first carries plotly.js, compressed",
  );
  assert.match(html(0), /DecompressionStream\("gzip"\)/);
  assert.ok(html(1).length < 10_000, "later figures reuse window.Plotly");
  assert.match(html(1), /window\.Plotly\.newPlot/);
  assert.equal((sent[0].content.data as Record<string, string>)["text/plain"], "[figure: loss]");
  const hostile = figureHtml({ data: [{ name: "</script><b>x" }] }, false);
  assert.equal(hostile.split("</script>").length, 2, "a trace name cannot close the script early");
});

Deno.test("plot: a figure's html is the same every time it is made (a re-run cell changes nothing)", () => {
  const fig = barChart(["a", "b"], [1, 2], { title: "same" });
  assert.equal(figureHtml(fig, false), figureHtml(fig, false));
  assert.notEqual(figureHtml(fig, false), figureHtml(barChart(["a", "b"], [1, 3]), false));
});
