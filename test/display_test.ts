import assert from "node:assert/strict";
import { escapeHtml, useKernel } from "@/display.ts";
import { showTable } from "@/plot/table.ts";

Deno.test("escapeHtml: safe in an element and in either kind of attribute quotes", () => {
  assert.equal(
    escapeHtml(`<img src=x onerror='a("b")'> & c`),
    "&lt;img src=x onerror=&#39;a(&quot;b&quot;)&#39;&gt; &amp; c",
  );
});

Deno.test("tables in notebooks: a label with markup is a cell of text", async () => {
  const sent: Record<string, string>[] = [];
  useKernel({
    broadcast: (_type, content) => {
      sent.push(content.data as Record<string, string>);
      return Promise.resolve();
    },
  });
  try {
    await showTable([{ breed: "<img src=x onerror=alert(1)>", photos: 3 }], "<b>t</b>");
  } finally {
    useKernel(undefined);
  }
  const html = sent[0]["text/html"];
  assert.ok(!html.includes("<img"), html);
  assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;"), html);
  assert.ok(html.includes("&lt;b&gt;t&lt;/b&gt;"), html);
});
