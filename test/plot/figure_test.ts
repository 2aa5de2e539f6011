import assert from "node:assert/strict";
import { join } from "node:path";
import {
  barChart,
  figureHtml,
  lineChart,
  loadPlotly,
  showFigure,
  writeFigure,
} from "@/plot/figure.ts";
import { useKernel } from "@/display.ts";
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

Deno.test("plot: a notebook carries Plotly once; every chart draws, the same figure twice too", async () => {
  // Stand in for the kernel's API, as `deno jupyter` provides it.
  const sent: { type: string; content: Record<string, unknown> }[] = [];
  const fake = {
    broadcast: (
      type: string,
      content: Record<string, unknown>,
    ) => (sent.push({ type, content }), Promise.resolve()),
  };
  const same = lineChart([{ name: "loss", x: [1, 2], y: [3, 2] }], { title: "loss" });
  useKernel(fake);
  try {
    await showFigure(same);
    await showFigure(barChart(["beagle", "dingo"], [12, 7], { title: "second chart" }));
    // Three stage cells of a finished run draw one figure; each draws in its own box.
    await showFigure(same);
    await loadPlotly();
  } finally {
    useKernel(undefined);
  }
  assert.deepEqual(sent.map((m) => m.type), Array(4).fill("display_data"));
  const html = (i: number) => (sent[i].content.data as Record<string, string>)["text/html"];
  assert.ok(html(0).length > 1_000_000 && html(0).length < 3_500_000, "plotly.js, compressed");
  assert.match(html(0), /DecompressionStream\("gzip"\)/);
  for (const i of [1, 2]) assert.ok(html(i).length < 10_000, `chart ${i} without the bundle`);
  assert.match(html(3), /DecompressionStream\("gzip"\)/, "loadPlotly carries it again");
  assert.equal((sent[0].content.data as Record<string, string>)["text/plain"], "[figure: loss]");
  const dir = await tempDir();
  const page = async (name: string, parts: string[]) => {
    await Deno.writeTextFile(join(dir, name), `<html><body>${parts.join("")}</body></html>`);
    return await renderedDom(join(dir, name));
  };
  // The whole notebook: three charts, two of one figure, each drawn once in its own box.
  const all = await page("all.html", [html(0), html(1), html(2)]);
  assert.equal(all.match(/<div class="plot-container plotly"/g)?.length, 3);
  // A chart whose loader's output was cleared says how to get it back, and draws once it comes.
  const alone = await page("alone.html", [html(1)]);
  assert.ok(!alone.includes("main-svg"));
  assert.match(alone, /Run `await loadPlotly\(\)` in any cell/);
  const back = await page("back.html", [html(1), html(3)]);
  assert.match(back, /<svg class="main-svg"/);
  assert.match(back, /second chart/);
  await Deno.remove(dir, { recursive: true });
  const hostile = figureHtml({ data: [{ name: "</script><b>x" }] }, false);
  assert.equal(hostile.split("</script>").length, 2, "a trace name cannot close the script early");
});

Deno.test("plot: a figure's html is the same every time it is made (a re-run cell changes nothing)", () => {
  const fig = barChart(["a", "b"], [1, 2], { title: "same" });
  assert.equal(figureHtml(fig, false, 1), figureHtml(fig, false, 1));
  assert.notEqual(figureHtml(fig, false, 1), figureHtml(fig, false, 2), "two outputs, two ids");
  assert.notEqual(figureHtml(fig, false), figureHtml(barChart(["a", "b"], [1, 3]), false));
});

Deno.test("plot: labels are text: markup in a class name is shown, never drawn or run", async () => {
  const dir = await tempDir();
  const file = join(dir, "hostile.html");
  const names = [
    "<b>bold</b>",
    `</script><img src=x onerror="document.body.dataset.pwned=1">`,
    "<!--a & b",
  ];
  await writeFigure(barChart(names, [3, 2, 1], { title: "<i>title</i>" }), file, "hostile");
  const dom = await renderedDom(file);
  assert.match(dom, /<svg class="main-svg"/, "Plotly drew its SVG");
  assert.ok(!dom.includes("data-pwned"), "no handler of a label ran");
  for (const name of [...names, "<i>title</i>"]) {
    // Drawn as an SVG text node of exactly these characters (not bold, not cut at a tag).
    const text = name.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
    assert.ok(dom.includes(`>${text}</text>`), `drawn as text: ${name}`);
  }
  await Deno.remove(dir, { recursive: true });
});
