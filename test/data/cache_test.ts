import assert from "node:assert/strict";
import { join } from "node:path";
import { cacheImages, type ImageCache } from "@/data/cache.ts";
import { listPacks, prunePacks } from "@/data/cache_packs.ts";
import { loadImage } from "@/data/image.ts";
import { writeTable } from "@/data/table.ts";
import { FileSystemError } from "@/errors.ts";
import { cli, decode, SHARED_IMAGEWOOF, solidJpeg, tempDir } from "../fixtures.ts";

async function photos(dir: string, n: number, prefix = "p") {
  const items = [];
  for (let i = 0; i < n; i++) {
    const path = join(dir, `${prefix}${i}.jpg`);
    await Deno.writeFile(path, await solidJpeg(20 + i, 16, [i * 40, 255 - i * 40, 7], [0, 0, 200]));
    items.push({ id: `${prefix}${i}`, path });
  }
  return items;
}

const packFiles = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) => n.endsWith(".rgb"))
    .sort();

Deno.test("cache: same pixels as decoding, reused on the next call, a changed photo decoded again", async () => {
  const dir = await tempDir();
  const items = await photos(dir, 5);
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
  assert.throws(() => built.read("bad"), /'bad' is not in this cache/);

  const again = await cacheImages(items, { size: 8, dir: cacheDir });
  assert.equal(again.reused, true);
  for (const id of built.ids) assert.deepEqual(again.read(id).data, built.read(id).data);
  assert.deepEqual(again.skipped, built.skipped);

  await Deno.writeFile(items[0].path, await solidJpeg(30, 30, [1, 2, 3]));
  let decoded = "";
  const changed = await cacheImages(items, {
    size: 8,
    dir: cacheDir,
    onDecoded: (line) => decoded = line,
  });
  assert.equal(changed.reused, false);
  assert.match(decoded, /^decoded 1 photos in /, "only the changed photo");
  assert.notDeepEqual(changed.read("p0").data, built.read("p0").data);
  assert.deepEqual(changed.read("p1").data, built.read("p1").data);
  for (const cache of [built, again, changed]) cache.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cache: a photo cut short at any length costs that photo alone, its reason on one line", async () => {
  const dir = await tempDir();
  const real = join(SHARED_IMAGEWOOF, "n02088364");
  const source = join(
    real,
    (await Array.fromAsync(Deno.readDir(real))).map((e) => e.name).sort()[0],
  );
  const bytes = await Deno.readFile(source);
  const items = await photos(dir, 3);
  const lengths = [2, 100, 500, 2000, Math.floor(bytes.length / 2), bytes.length - 10];
  for (const n of lengths) {
    const path = join(dir, `cut${n}.jpg`);
    await Deno.writeFile(path, bytes.subarray(0, n));
    items.push({ id: `cut${n}`, path });
  }
  const cache = await cacheImages(items, { size: 16, dir: join(dir, "cache") });
  for (const id of ["p0", "p1", "p2"]) assert.ok(cache.has(id), id);
  const problems = cache.skipped.map((s) => s.problem);
  assert.ok(problems.length >= lengths.length - 1, `cut photos skipped: ${problems.join(" | ")}`);
  for (const p of problems) assert.ok(!/[\t\r\n]/.test(p), `one line: ${JSON.stringify(p)}`);
  // What the run writes of them (skipped.tsv) takes every reason.
  await writeTable(join(dir, "skipped.tsv"), cache.skipped, { columns: ["path", "problem"] });
  cache.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cache: shared by content: another set, a link, a second id reuse the frames; nothing written twice", async () => {
  const dir = await tempDir();
  const cacheDir = join(dir, "cache");
  const items = await photos(dir, 6);
  const first = await cacheImages(items.slice(0, 4), { size: 8, dir: cacheDir });
  assert.equal((await packFiles(cacheDir)).length, 1);
  // Another file set: two photos of the first (one through a symlink, under another id), one new.
  await Deno.symlink(items[1].path, join(dir, "link.jpg"));
  const second = [
    { id: "again", path: items[0].path },
    { id: "linked", path: join(dir, "link.jpg") },
    items[5],
  ];
  let decoded = "";
  const other = await cacheImages(second, {
    size: 8,
    dir: cacheDir,
    onDecoded: (line) => decoded = line,
  });
  assert.match(decoded, /^decoded 1 photos in /, "only the new photo is decoded");
  assert.deepEqual(other.read("again").data, first.read("p0").data);
  assert.deepEqual(other.read("linked").data, first.read("p1").data);
  const packs = await listPacks(cacheDir);
  assert.equal(packs.length, 2);
  assert.deepEqual(
    packs.map((p) => p.contents!.keys.length).sort(),
    [1, 4],
    "the new pack holds the new photo alone",
  );
  // Both sets again: nothing decoded, nothing written.
  const sizes = packs.map((p) => p.bytes);
  const both = await cacheImages([...items.slice(0, 4), items[5]], { size: 8, dir: cacheDir });
  assert.equal(both.reused, true);
  assert.deepEqual((await listPacks(cacheDir)).map((p) => p.bytes), sizes);
  for (const cache of [first, other, both]) cache.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cache: bounded: least recently used packs go first, never one a process reads", async () => {
  const dir = await tempDir();
  const cacheDir = join(dir, "cache");
  const sets = [];
  for (let s = 0; s < 3; s++) sets.push(await photos(dir, 3, `s${s}-`));
  // An older version's pack (what 2026's caches hold): no set reads it again.
  await Deno.mkdir(cacheDir);
  await Deno.writeFile(
    join(cacheDir, "8px-nearest-0123456789abcdef01234567.rgb"),
    new Uint8Array(9),
  );
  await Deno.writeTextFile(join(cacheDir, "8px-nearest-0123456789abcdef01234567.json"), "{}");
  const opened: ImageCache[] = [];
  for (const set of sets) {
    const cache = await cacheImages(set, { size: 8, dir: cacheDir });
    cache.close();
    opened.push(cache);
    await new Promise((r) => setTimeout(r, 20)); // distinct last-use times
  }
  const packs = await listPacks(cacheDir);
  assert.equal(packs.length, 4);
  const packBytes = packs.find((p) => p.contents)!.bytes;
  // Set 0 used again: now set 1's pack is the least recently used of this version.
  const held = await cacheImages(sets[0], { size: 8, dir: cacheDir });
  const name = (i: number) => opened[i].view.packs[0];
  // A cap of two packs: the old version's pack, then set 1's go.
  Deno.env.set("DOGS_CACHE_GB", String((2.5 * packBytes) / 1e9));
  let line = "";
  try {
    const third = await cacheImages(sets[2], { size: 8, dir: cacheDir, log: (l) => line = l });
    third.close();
  } finally {
    Deno.env.delete("DOGS_CACHE_GB");
  }
  assert.match(line, /removed 2 least recently used pack\(s\)/);
  const left = (await listPacks(cacheDir)).map((p) => p.rgb).sort();
  assert.deepEqual(left, [name(0), name(2)].sort());
  // Clearing from another process leaves the pack this one reads, and it still reads.
  const cleared = await cli("cache", "--clear", "--cache-dir", cacheDir).output();
  assert.equal(cleared.code, 0, decode(cleared.stderr));
  assert.match(decode(cleared.stdout), /removed 1 pack\(s\), .* \(1 in use by a running process\)/);
  assert.deepEqual((await listPacks(cacheDir)).map((p) => p.rgb), [name(0)]);
  assert.equal(held.read("s0-1").data.length, 8 * 8 * 3);
  held.close();
  const listed = await cli("cache", "--cache-dir", cacheDir).output();
  assert.match(decode(listed.stdout), /1 pack\(s\), .* of 10\.00 GB\n {2}frames-8px-nearest-/);
  assert.equal((await prunePacks(cacheDir, 0)).evicted.length, 1, "closed: free to go");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cache: a write error (disk full) stops the build, marks nothing, and the next build is whole", async () => {
  const dir = await tempDir();
  const items = await photos(dir, 4);
  const reference = await cacheImages(items, { size: 8, dir: join(dir, "reference") });
  const name = (await packFiles(join(dir, "reference")))[0];
  // This process's partial file is /dev/full: every write fails with "No space left on device".
  const full = join(dir, "full");
  await Deno.mkdir(full);
  await Deno.symlink("/dev/full", join(full, `${name}.tmp-${Deno.pid}`));
  await assert.rejects(cacheImages(items, { size: 8, dir: full }), (e: Error) => {
    assert.ok(e instanceof FileSystemError, String(e));
    assert.equal(e.message, `${join(full, name)}: No space left on device`);
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

  // A damaged metadata file is no pack: decoded again, never a TypeError.
  rebuilt.close();
  await Deno.writeTextFile(join(full, name.replace(/\.rgb$/, ".json")), '{"version": 4}');
  const again = await cacheImages(items, { size: 8, dir: full });
  assert.equal(again.reused, false);
  assert.deepEqual(again.ids, rebuilt.ids);
  for (const cache of [reference, again]) cache.close();
  await Deno.remove(dir, { recursive: true });
});
