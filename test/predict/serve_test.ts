/**
 * `deno task serve`'s server (lib/predict/serve.ts): the export folder and nothing above it, the
 * headers that give onnxruntime-web threads, and the CLI's one line for a folder that is no export.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { serveFolder } from "@/predict/serve.ts";
import { cli, tempDir } from "../fixtures.ts";

Deno.test("serveFolder: the folder only, cross-origin isolated, wasm typed", async () => {
  const dir = await tempDir();
  const folder = join(dir, "export");
  await Deno.mkdir(join(folder, "ort"), { recursive: true });
  await Deno.writeTextFile(join(folder, "index.html"), "<p>page</p>");
  await Deno.writeFile(join(folder, "ort", "a.wasm"), new Uint8Array([0, 97, 115, 109]));
  await Deno.writeTextFile(join(dir, "secret.txt"), "not yours");
  const server = serveFolder(folder);
  try {
    const page = await fetch(`${server.origin}/`);
    assert.equal(await page.text(), "<p>page</p>");
    assert.equal(page.headers.get("cross-origin-opener-policy"), "same-origin");
    assert.equal(page.headers.get("cross-origin-embedder-policy"), "require-corp");
    const wasm = await fetch(`${server.origin}/ort/a.wasm`);
    assert.equal(wasm.headers.get("content-type"), "application/wasm");
    await wasm.body?.cancel();
    for (const path of ["/..%2Fsecret.txt", "/ort/..%2F..%2Fsecret.txt", "/%2E%2E/secret.txt"]) {
      const climb = await fetch(`${server.origin}${path}`);
      assert.equal(climb.status, 404, path);
      assert.notEqual(await climb.text(), "not yours");
    }
    assert.ok(server.origin.startsWith("http://127.0.0.1:"), "this machine only by default");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task serve: a folder that is no export is one line", async () => {
  const dir = await tempDir();
  try {
    const out = await cli("serve", dir).output();
    assert.equal(out.code, 2);
    assert.equal(
      new TextDecoder().decode(out.stderr).trim(),
      `error: ${dir}: no index.html: not an export folder (deno task export --out)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
