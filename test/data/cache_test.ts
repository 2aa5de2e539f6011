import assert from "node:assert/strict";
import { join } from "node:path";
import { cacheImages } from "@/data/cache.ts";
import { loadImage } from "@/data/image.ts";
import { solidJpeg, tempDir } from "../fixtures.ts";

Deno.test("cache: same pixels as decoding, reused on the next call, rebuilt when a file changes", async () => {
  const dir = await tempDir();
  const items = [];
  for (let i = 0; i < 5; i++) {
    const path = join(dir, `p${i}.jpg`);
    await Deno.writeFile(path, await solidJpeg(20 + i, 16, [i * 40, 255 - i * 40, 7], [0, 0, 200]));
    items.push({ id: `p${i}`, path });
  }
  await Deno.writeTextFile(join(dir, "bad.jpg"), "garbage");
  items.splice(2, 0, { id: "bad", path: join(dir, "bad.jpg") });
  const cacheDir = join(dir, "cache");

  const built = await cacheImages(items, { size: 8, dir: cacheDir });
  assert.equal(built.reused, false);
  assert.deepEqual(built.ids, ["p0", "p1", "p2", "p3", "p4"]);
  assert.equal(built.skipped.length, 1);
  assert.equal(built.skipped[0].path, join(dir, "bad.jpg"));
  assert.match(built.skipped[0].problem, /^cannot decode image: /, "the path is not repeated");
  for (const id of built.ids) {
    const direct = await loadImage(join(dir, `${id}.jpg`), { size: 8 });
    assert.deepEqual(built.read(id).data, direct.data);
  }
  assert.throws(() => built.read("bad"), /'bad' is not in cache/);

  const again = await cacheImages(items, { size: 8, dir: cacheDir });
  assert.equal(again.reused, true);
  for (const id of built.ids) assert.deepEqual(again.read(id).data, built.read(id).data);
  assert.deepEqual(again.skipped, built.skipped);

  await Deno.writeFile(items[0].path, await solidJpeg(30, 30, [1, 2, 3]));
  const changed = await cacheImages(items, { size: 8, dir: cacheDir });
  assert.equal(changed.reused, false);
  assert.notDeepEqual(changed.read("p0").data, built.read("p0").data);
  assert.deepEqual(changed.read("p1").data, built.read("p1").data);
  for (const cache of [built, again, changed]) cache.close();
  await Deno.remove(dir, { recursive: true });
});
