import assert from "node:assert/strict";
import { join } from "node:path";
import { c as tarCreate } from "tar";
import { resolveDataset } from "@/data/datasets.ts";
import { readImageFolder } from "@/data/readers.ts";
import { makeImageFolder, tempDir } from "../fixtures.ts";

Deno.test("datasets: a named dataset is downloaded once, unpacked, and resolved to its folder", async () => {
  const dir = await tempDir();
  // A small archive in ImageWoof's layout, served from 127.0.0.1.
  await makeImageFolder(join(dir, "src", "imagewoof2-320", "train"), { n01: 2, n02: 3 });
  const archive = join(dir, "woof.tgz");
  await tarCreate({ gzip: true, file: archive, cwd: join(dir, "src") }, ["imagewoof2-320"]);
  const bytes = await Deno.readFile(archive);
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    requests++;
    return new Response(bytes, { headers: { "content-length": String(bytes.length) } });
  });
  const url = `http://127.0.0.1:${server.addr.port}/imagewoof2-320.tgz`;
  const cacheDir = join(dir, "datasets");
  const root = await resolveDataset("imagewoof", { cacheDir, url, onProgress: false });
  assert.equal(root, join(cacheDir, "imagewoof", "imagewoof2-320", "train"));
  const listing = await readImageFolder(root);
  assert.equal(listing.train.length, 5);
  assert.equal(await resolveDataset("imagewoof", { cacheDir, url, onProgress: false }), root);
  assert.equal(requests, 1, "downloaded and unpacked once");
  assert.equal(await resolveDataset("/some/local/folder"), "/some/local/folder");
  await server.shutdown();
  await Deno.remove(dir, { recursive: true });
});
