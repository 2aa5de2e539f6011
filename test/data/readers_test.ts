import assert from "node:assert/strict";
import { join } from "node:path";
import { readCompetition, readDataset, readImageFolder } from "@/data/readers.ts";
import { DataError } from "@/errors.ts";
import { makeImageFolder, SHARED_IMAGEWOOF, solidJpeg, tempDir } from "../fixtures.ts";

Deno.test("ImageFolder: labels from folder names, sorted, non-images and empty files reported", async () => {
  const root = await tempDir();
  await makeImageFolder(root, { b: 2, a: 3 });
  await Deno.writeTextFile(join(root, "a", "notes.txt"), "hello");
  await Deno.writeFile(join(root, "b", "empty.jpg"), new Uint8Array());
  await Deno.writeTextFile(join(root, "a", ".DS_Store"), "x");
  const listing = await readImageFolder(root);
  assert.equal(listing.layout, "imagefolder");
  assert.deepEqual(listing.train.map((t) => [t.label, t.id]), [
    ["a", "a/a_0.jpg"],
    ["a", "a/a_1.jpg"],
    ["a", "a/a_2.jpg"],
    ["b", "b/b_0.jpg"],
    ["b", "b/b_1.jpg"],
  ]);
  assert.deepEqual(
    listing.skipped.map((s) => [s.path.slice(root.length + 1), s.problem]),
    [["a/notes.txt", "not an image file (unknown extension)"], [
      "b/empty.jpg",
      "empty file (0 bytes)",
    ]],
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("ImageFolder: one file name in two breeds' folders (and two extensions) is four photos", async () => {
  const root = await tempDir();
  await makeImageFolder(root, { a: 1, b: 1 });
  await Deno.copyFile(join(root, "a", "a_0.jpg"), join(root, "b", "a_0.jpg"));
  await Deno.copyFile(join(root, "a", "a_0.jpg"), join(root, "a", "a_0.png"));
  const listing = await readImageFolder(root);
  assert.deepEqual(listing.train.map((t) => [t.id, t.path.slice(root.length + 1)]), [
    ["a/a_0.jpg", "a/a_0.jpg"],
    ["a/a_0.png", "a/a_0.png"],
    ["b/a_0.jpg", "b/a_0.jpg"],
    ["b/b_0.jpg", "b/b_0.jpg"],
  ]);
  await Deno.remove(root, { recursive: true });
});

Deno.test("readers: a dataset of one class is refused up front, in either layout", async () => {
  const root = await tempDir();
  await makeImageFolder(root, { beagle: 3 });
  await assert.rejects(readDataset(root), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.equal(
      e.message,
      `${root}: only one class ('beagle'): a classifier needs photos of two classes or more`,
    );
    return true;
  });
  await Deno.remove(root, { recursive: true });
  const competition = await makeCompetition(["p1 7", "p2 7", "p3 7"]);
  await assert.rejects(readDataset(competition), /train\.txt: only one class \('7'\)/);
  await Deno.remove(competition, { recursive: true });
});

Deno.test("readers: a photo or class folder whose name is not UTF-8 is refused by name", async () => {
  const root = await tempDir();
  await makeImageFolder(root, { a: 2, b: 1 });
  const enc = new TextEncoder();
  // a/caf\xe9.jpg: the Latin-1 byte of e-acute, not UTF-8.
  const cafe = [...enc.encode(join(root, "a", "caf")), 0xe9, ...enc.encode(".jpg")];
  await pythonWrite(cafe, await solidJpeg(8, 8, [1, 2, 3]));
  await assert.rejects(readDataset(root), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /\/a\/caf\uFFFD\.jpg: its name is not UTF-8 .*: rename it in UTF-8/);
    return true;
  });
  await Deno.remove(join(root, "a"), { recursive: true });
  await pythonWrite([...enc.encode(join(root, "d")), 0xe9, 0x67], undefined);
  await assert.rejects(readDataset(root), /\/d\uFFFDg: its name is not UTF-8/);
  await Deno.remove(root, { recursive: true });
});

/** Writes a file (or makes a folder, without data) at a path given as raw bytes: Deno's own
 * file calls take text, so a name that is not UTF-8 needs another program. */
async function pythonWrite(path: number[], data: Uint8Array | undefined): Promise<void> {
  const code = data
    ? `import sys; open(bytes(${JSON.stringify(path)}), 'wb').write(sys.stdin.buffer.read())`
    : `import os; os.mkdir(bytes(${JSON.stringify(path)}))`;
  const child = new Deno.Command("python3", { args: ["-c", code], stdin: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  if (data) await writer.write(data);
  await writer.close();
  assert.equal((await child.status).code, 0);
}

Deno.test("readers: a missing or empty root is a clear error", async () => {
  await assert.rejects(
    readDataset("/nonexistent/dogs"),
    /\/nonexistent\/dogs: directory not found/,
  );
  const root = await tempDir();
  await assert.rejects(readImageFolder(root), /no images found/);
  await Deno.remove(root, { recursive: true });
});

async function makeCompetition(lines: string[]): Promise<string> {
  const root = await tempDir();
  await Deno.mkdir(join(root, "train"));
  await Deno.mkdir(join(root, "test"));
  for (const id of ["p1", "p2", "p3"]) {
    await Deno.writeFile(join(root, "train", `${id}.jpg`), await solidJpeg(8, 8, [1, 2, 3]));
  }
  for (const id of ["t2", "t1"]) {
    await Deno.writeFile(join(root, "test", `${id}.jpg`), await solidJpeg(8, 8, [1, 2, 3]));
  }
  await Deno.writeTextFile(join(root, "train.txt"), lines.join("\n"));
  return root;
}

Deno.test("competition layout: ids with or without extension, extra columns ignored, test listed", async () => {
  const root = await makeCompetition(["p1.jpg 12 http://x", "p2 3", "", "p3\t12", "p9 3"]);
  const listing = await readDataset(root);
  assert.equal(listing.layout, "competition");
  assert.deepEqual(listing.train.map((t) => [t.id, t.label]), [["p1", "12"], ["p2", "3"], [
    "p3",
    "12",
  ]]);
  assert.deepEqual(listing.test.map((t) => t.id), ["t1", "t2"]);
  assert.equal(listing.skipped.length, 1);
  assert.match(listing.skipped[0].problem, /train\.txt:5 but missing/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("competition layout: duplicate id and malformed line name file and line", async () => {
  let root = await makeCompetition(["p1 1", "p2 2", "p1 2"]);
  await assert.rejects(
    readCompetition(root),
    /train\.txt:3: duplicate image id 'p1' \(first on line 1\)/,
  );
  await Deno.remove(root, { recursive: true });
  root = await makeCompetition(["p1 1", "p2"]);
  await assert.rejects(readCompetition(root), /train\.txt:2: expected 'image_id label', got 'p2'/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("ImageWoof slice from ../shared reads as 10 breeds of real photos", async () => {
  const listing = await readImageFolder(SHARED_IMAGEWOOF);
  const labels = new Set(listing.train.map((t) => t.label));
  assert.equal(labels.size, 10);
  assert.equal(listing.train.length, 9025);
  assert.ok(labels.has("n02086240"));
  assert.equal(listing.skipped.length, 0);
});

Deno.test("ImageFolder: a broken symlink is skipped and reported, the rest still listed", async () => {
  const root = await tempDir();
  await makeImageFolder(root, { a: 2, b: 1 });
  await Deno.symlink(join(root, "gone.jpg"), join(root, "a", "link.jpg"));
  const listing = await readImageFolder(root);
  assert.deepEqual(listing.train.map((t) => t.id), ["a/a_0.jpg", "a/a_1.jpg", "b/b_0.jpg"]);
  assert.deepEqual(
    listing.skipped.map((s) => [s.path.slice(root.length + 1), s.problem]),
    [["a/link.jpg", "unreadable (broken link)"]],
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("competition layout: one id for two photos, in test/, in train/ or across both, is refused by name", async () => {
  // test/t1.jpg beside test/t1.jpeg: two lines with one id in every submission.
  let root = await makeCompetition(["p1 1", "p2 2"]);
  await Deno.copyFile(join(root, "test", "t1.jpg"), join(root, "test", "t1.jpeg"));
  await assert.rejects(readCompetition(root), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.match(
      e.message,
      /test\/t1\.jpg: image id 't1' names two test photos \(also .*t1\.jpeg\)/,
    );
    return true;
  });
  await Deno.remove(root, { recursive: true });
  // train/p1.jpg beside train/p1.png, p1 listed.
  root = await makeCompetition(["p1 1", "p2 2"]);
  await Deno.copyFile(join(root, "train", "p1.jpg"), join(root, "train", "p1.png"));
  await assert.rejects(
    readCompetition(root),
    /train\/p1\.jpg: image id 'p1' \(.*train\.txt:1\) names two photos: p1\.jpg, p1\.png/,
  );
  await Deno.remove(root, { recursive: true });
  // The same id in train/ and test/: training would read the test photo's pixels.
  root = await makeCompetition(["p1 1", "p2 2"]);
  await Deno.copyFile(join(root, "train", "p2.jpg"), join(root, "test", "p2.jpg"));
  await assert.rejects(
    readCompetition(root),
    /test\/p2\.jpg: image id 'p2' is also a training photo \(.*train\/p2\.jpg\)/,
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("readers: an id with a path in it is 'outside', not 'missing'; a tab in a name is refused", async () => {
  const root = await makeCompetition(["p1 1", "../train/p2 2", "p3 2"]);
  const listing = await readCompetition(root);
  assert.deepEqual(listing.train.map((t) => t.id), ["p1", "p3"]);
  assert.match(listing.skipped[0].problem, /train\.txt:2 with a path outside .*train \(ids are/);
  await Deno.writeFile(join(root, "test", "t\t3.jpg"), await solidJpeg(8, 8, [1, 2, 3]));
  await assert.rejects(
    readCompetition(root),
    /test\/t\t3\.jpg: its name holds a tab or a line break, which the run's tab-separated files/,
  );
  await Deno.remove(root, { recursive: true });
  const folder = await tempDir();
  await makeImageFolder(folder, { a: 2, b: 1 });
  await Deno.writeFile(join(folder, "a", "new\nline.jpg"), await solidJpeg(8, 8, [1, 2, 3]));
  await assert.rejects(readImageFolder(folder), /new\nline\.jpg: its name holds a tab or a line/);
  await Deno.remove(folder, { recursive: true });
});
