import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { downloadCached } from "@/download.ts";
import { resolveDataset } from "@/data/datasets.ts";
import { DataError } from "@/errors.ts";
import { tempDir } from "./fixtures.ts";

/** A local HTTP server on 127.0.0.1 serving one file, counting requests. */
function serve(body: Uint8Array<ArrayBuffer>) {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    requests++;
    if (new URL(request.url).pathname !== "/weights/w.h5") {
      return new Response("missing", { status: 404 });
    }
    return new Response(body, { headers: { "content-length": String(body.length) } });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { base, requests: () => requests, close: () => server.shutdown() };
}

Deno.test("download: fetched once with progress, verified by md5, then served from the cache", async () => {
  const body = new Uint8Array(300_000).map((_, i) => (i * 31) % 251);
  const md5 = createHash("md5").update(body).digest("hex");
  const server = serve(body);
  const cacheDir = await tempDir();
  const progress: number[] = [];
  const path = await downloadCached(`${server.base}/weights/w.h5`, {
    cacheDir,
    md5,
    onProgress: (done) => progress.push(done),
  });
  assert.equal(path, join(cacheDir, "w.h5"));
  assert.deepEqual(await Deno.readFile(path), body);
  assert.equal(progress.at(-1), body.length);
  assert.ok(progress.length >= 1);
  const again = await downloadCached(`${server.base}/weights/w.h5`, {
    cacheDir,
    md5,
    onProgress: false,
  });
  assert.equal(again, path);
  assert.equal(server.requests(), 1, "second call served from the cache");
  // A corrupted cached file is detected and fetched again.
  await Deno.writeFile(path, new Uint8Array(10));
  await downloadCached(`${server.base}/weights/w.h5`, { cacheDir, md5, onProgress: false });
  assert.equal(server.requests(), 2);
  assert.deepEqual(await Deno.readFile(path), body);
  await server.close();
  await Deno.remove(cacheDir, { recursive: true });
});

Deno.test("download: a checksum mismatch leaves nothing in the cache; HTTP errors are clear", async () => {
  const server = serve(new Uint8Array([1, 2, 3]));
  const cacheDir = await tempDir();
  await assert.rejects(
    downloadCached(`${server.base}/weights/w.h5`, {
      cacheDir,
      md5: "0".repeat(32),
      onProgress: false,
    }),
    /failed its check: md5 is [0-9a-f]{32}, expected 0{32}/,
  );
  assert.deepEqual((await Array.fromAsync(Deno.readDir(cacheDir))).map((e) => e.name), []);
  await assert.rejects(
    downloadCached(`${server.base}/nothing.h5`, { cacheDir, onProgress: false }),
    /HTTP 404/,
  );
  await server.close();
  await Deno.remove(cacheDir, { recursive: true });
});

Deno.test("download: without a published checksum the first download's SHA-256 is pinned", async () => {
  const body = new Uint8Array([5, 6, 7, 8]);
  const server = serve(body);
  const cacheDir = await tempDir();
  const path = await downloadCached(`${server.base}/weights/w.h5`, { cacheDir, onProgress: false });
  const pinned = (await Deno.readTextFile(`${path}.sha256`)).trim();
  assert.equal(pinned, createHash("sha256").update(body).digest("hex"));
  await Deno.writeFile(path, new Uint8Array([0]));
  await downloadCached(`${server.base}/weights/w.h5`, { cacheDir, onProgress: false });
  assert.equal(server.requests(), 2, "a file that no longer matches its pin is fetched again");
  await server.close();
  await Deno.remove(cacheDir, { recursive: true });
});

Deno.test("download: no network is one line naming what could not be fetched and the way round it", async () => {
  const closed = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(""),
  );
  const base = `http://127.0.0.1:${closed.addr.port}`;
  await closed.shutdown(); // nothing listens there now: the connection is refused
  const cacheDir = await tempDir();
  await assert.rejects(
    resolveDataset("imagewoof", { cacheDir, url: `${base}/imagewoof2-320.tgz`, onProgress: false }),
    (e: Error) => {
      assert.ok(e instanceof DataError, String(e));
      assert.ok(!/\n/.test(e.message), e.message);
      assert.match(
        e.message,
        new RegExp(
          `^${base}/imagewoof2-320\\.tgz: cannot download \\(.*[Cc]onnection refused.*\\); ` +
            "without network, fetch it elsewhere, unpack it, and pass its folder: " +
            "--data PATH/imagewoof2-320/train$",
        ),
      );
      return true;
    },
  );
  const archives = join(cacheDir, "imagewoof", "..", "archives");
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(archives))).map((e) => e.name),
    [],
    "no partial file left",
  );
  await Deno.remove(cacheDir, { recursive: true });
});
