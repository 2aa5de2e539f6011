import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { cacheImages } from "@/data/cache.ts";
import { loadImage } from "@/data/image.ts";
import { FileSystemError } from "@/errors.ts";
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

Deno.test("cache: a write error (disk full) stops the build, marks nothing, and the next build is whole", async () => {
  const dir = await tempDir();
  const items = [];
  for (let i = 0; i < 4; i++) {
    const path = join(dir, `p${i}.jpg`);
    await Deno.writeFile(path, await solidJpeg(20, 16, [i * 40, 9, 7]));
    items.push({ id: `p${i}`, path });
  }
  const reference = await cacheImages(items, { size: 8, dir: join(dir, "reference") });
  // This process's partial file is /dev/full: every write fails with "No space left on device".
  const full = join(dir, "full");
  await Deno.mkdir(full);
  const partial = join(full, `${basename(reference.file)}.tmp-${Deno.pid}`);
  await Deno.symlink("/dev/full", partial);
  await assert.rejects(cacheImages(items, { size: 8, dir: full }), (e: Error) => {
    assert.ok(e instanceof FileSystemError, String(e));
    assert.equal(e.message, `${join(full, basename(reference.file))}: No space left on device`);
    return true;
  });
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(full))).map((e) => e.name),
    [],
    "no metadata, no partial file: nothing marked complete",
  );
  const rebuilt = await cacheImages(items, { size: 8, dir: full });
  assert.equal(rebuilt.reused, false);
  assert.deepEqual(rebuilt.ids, ["p0", "p1", "p2", "p3"], "no good photo recorded as unreadable");
  assert.deepEqual(rebuilt.skipped, []);
  for (const id of rebuilt.ids) assert.deepEqual(rebuilt.read(id).data, reference.read(id).data);

  // A damaged metadata file is no cache: rebuilt, never a TypeError.
  const meta = rebuilt.file.replace(/\.rgb$/, ".json");
  rebuilt.close();
  await Deno.writeTextFile(meta, JSON.stringify({ version: 2, size: 8 }));
  const again = await cacheImages(items, { size: 8, dir: full });
  assert.equal(again.reused, false);
  assert.deepEqual(again.ids, rebuilt.ids);
  for (const cache of [reference, again]) cache.close();
  await Deno.remove(dir, { recursive: true });
});
