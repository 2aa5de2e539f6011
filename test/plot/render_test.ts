import assert from "node:assert/strict";
import { join } from "node:path";
import { withoutTimings, writePage } from "@/plot/render.ts";
import { tempDir } from "../fixtures.ts";

Deno.test("render: a page that differs only in its timings is kept; any other change is written", async () => {
  const dir = await tempDir();
  const path = join(dir, "03.html");
  const page = (rate: string, elapsed: string, blend: string) =>
    `<pre>trunk Train_DA ████ 480/480 ${rate} it/s ${elapsed}&lt;00:00</pre>` +
    `<pre>decoded 9,025 photos in ${rate} s</pre><td>${blend}</td>`;
  assert.equal(await writePage(path, page("27.50", "00:17", "0.8612")), true, "a new page");
  assert.equal(await writePage(path, page("9.11", "01:02", "0.8612")), false, "timings only");
  assert.match(await Deno.readTextFile(path), /27\.50 it\/s 00:17/, "the first render kept");
  assert.equal(await writePage(path, page("9.11", "01:02", "0.8613")), true, "a number changed");
  assert.match(await Deno.readTextFile(path), /0\.8613/);
  assert.equal(withoutTimings("12 steps/s, 3.5 photos/s"), "# /s, # /s");
  await Deno.remove(dir, { recursive: true });
});
