/**
 * The run-folder contract's pieces (lib/train/run_folder.ts, lib/files.ts, prepareData's
 * resume): identity differences named field by field, one lock per folder with stale-lock
 * takeover, leftovers of killed processes removed, and a resumed run reading its saved split.
 */
import assert from "node:assert/strict";
import { useKernel } from "@/display.ts";
import { join } from "node:path";
import { DataError } from "@/errors.ts";
import { prepareData } from "@/data/prepare.ts";
import {
  checkIdentity,
  identityDifference,
  lockRunFolder,
  type RunIdentity,
} from "@/run/folder.ts";
import { removeStaleTemporaries } from "@/files.ts";
import { defaultRunFolder } from "@/cli/run_args.ts";
import { PRESETS } from "@/run/presets.ts";
import { deadPid, makeImageFolder, tempDir } from "../fixtures.ts";

const identity: RunIdentity = {
  dataset: { root: "/data/a", photos: 10, listing: "abc" },
  preset: "cpu",
  seed: 0,
  weights: { path: "/w", sha256: "123" },
  settings: { valFraction: 0.1, glu: true },
};

Deno.test("run identity: the first differing field is named with both values", () => {
  assert.equal(identityDifference(identity, structuredClone(identity)), undefined);
  const other = { ...identity, dataset: { ...identity.dataset, root: "/data/b" } };
  assert.equal(
    identityDifference(identity, other),
    'dataset root: this run folder has "/data/a", the command asks "/data/b"',
  );
  const seed = { ...identity, seed: -1 };
  assert.match(identityDifference(identity, seed)!, /^seed: .* has 0, the command asks -1$/);
  const setting = { ...identity, settings: { ...identity.settings, valFraction: 0.2 } };
  assert.match(identityDifference(identity, setting)!, /^valFraction: .* 0.1, .* asks 0.2$/);
  const weights = { ...identity, weights: { path: "/w", sha256: "999" } };
  assert.match(identityDifference(identity, weights)!, /^weights SHA-256: /);
});

Deno.test("run identity: a folder with another run, or foreign files, is refused", async () => {
  const dir = await tempDir();
  assert.equal(await checkIdentity(join(dir, "new"), identity), "new");
  await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify({ identity }));
  assert.equal(await checkIdentity(dir, structuredClone(identity)), "resume");
  await assert.rejects(
    checkIdentity(dir, { ...identity, preset: "seed" }),
    /run\.json: preset: this run folder has "cpu", the command asks "seed"; start it in another folder \(--out\)/,
  );
  await Deno.writeTextFile(join(dir, "run.json"), JSON.stringify({ data: "old format" }));
  await assert.rejects(checkIdentity(dir, identity), /not a run of this version/);
  const foreign = join(dir, "foreign");
  await Deno.mkdir(foreign);
  await Deno.writeTextFile(join(foreign, "notes.txt"), "mine");
  await assert.rejects(checkIdentity(foreign, identity), /not empty and not a run folder/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run lock: a second holder is refused; a dead holder's lock is taken over", async () => {
  const dir = await tempDir();
  const lock = await lockRunFolder(dir);
  await assert.rejects(lockRunFolder(dir), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, new RegExp(`\\.lock: in use by process ${Deno.pid} on .* since `));
    return true;
  });
  await lock.release();
  // Held by a notebook's kernel (which never ends by itself): the remedy is to close it.
  useKernel({ broadcast: () => Promise.resolve() });
  const kernel = await lockRunFolder(dir).finally(() => useKernel(undefined));
  await assert.rejects(
    lockRunFolder(dir),
    /in use by a notebook's kernel \(process \d+ on .*\) since .*: run that notebook's last cell, which closes the run, or shut its kernel down$/,
  );
  await kernel.release();
  const again = await lockRunFolder(dir);
  await again.release();
  // A run killed with -9 leaves its lock behind.
  const stale = { pid: await deadPid(), host: Deno.hostname(), started: "earlier" };
  await Deno.writeTextFile(join(dir, ".lock"), JSON.stringify(stale));
  const taken = await lockRunFolder(dir);
  const holder = JSON.parse(await Deno.readTextFile(join(dir, ".lock")));
  assert.equal(holder.pid, Deno.pid);
  await taken.release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("leftovers of killed processes are removed, live ones kept", async () => {
  const dir = await tempDir();
  const dead = await deadPid();
  await Deno.mkdir(join(dir, "checkpoints", `round02-x.tmp-${dead}`), { recursive: true });
  await Deno.writeTextFile(join(dir, `submission_main.txt.tmp-${dead}`), "partial");
  await Deno.writeTextFile(join(dir, `cache.rgb.tmp-${Deno.pid}`), "in progress");
  await Deno.writeTextFile(join(dir, "labels.tsv"), "kept");
  const removed = await removeStaleTemporaries(dir);
  assert.deepEqual(removed.map((p) => p.slice(dir.length + 1)).sort(), [
    `checkpoints/round02-x.tmp-${dead}`,
    `submission_main.txt.tmp-${dead}`,
  ]);
  const left = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  assert.deepEqual(left, [`cache.rgb.tmp-${Deno.pid}`, "checkpoints", "labels.tsv"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("resume: the saved split is read back, never made again", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  await makeImageFolder(data, { a: 12, b: 9 });
  const out = join(dir, "run");
  const first = await prepareData({ data, out, seed: 0, cache: false });
  const split = await Deno.readTextFile(join(out, "split.tsv"));
  // Another seed would split differently; a resumed run must not.
  const fresh = await prepareData({ data, out: join(dir, "other"), seed: 7, cache: false });
  assert.notDeepEqual(fresh.val.map((p) => p.id), first.val.map((p) => p.id));
  const resumed = await prepareData({ data, out, seed: 7, cache: false, resume: true });
  for (const part of ["train", "val", "test", "testAnswers"] as const) {
    assert.deepEqual(resumed[part].map((p) => p.id), first[part].map((p) => p.id), part);
  }
  assert.deepEqual(resumed.labels.labels, first.labels.labels);
  assert.deepEqual(resumed.perClass, first.perClass);
  assert.equal(await Deno.readTextFile(join(out, "split.tsv")), split, "nothing rewritten");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("default run folders name the dataset, so two datasets never share one", () => {
  const inputs = (data: string) => ({
    preset: PRESETS.cpu,
    seed: 0,
    data,
    weights: "w",
  });
  const woof = defaultRunFolder("reproduce", inputs("/x/shared/data/imagewoof/train"));
  const dogs = defaultRunFolder("reproduce", inputs("/data/stanford dogs/train"));
  assert.match(woof, /data\/runs\/reproduce-cpu-seed0-imagewoof-train$/);
  assert.match(dogs, /data\/runs\/reproduce-cpu-seed0-stanford_dogs-train$/);
  assert.match(defaultRunFolder("", inputs("/b/baidu")), /data\/runs\/cpu-seed0-baidu$/);
  assert.match(defaultRunFolder("", inputs("/x/new/comp")), /data\/runs\/cpu-seed0-comp$/);
  const planned = defaultRunFolder("", { ...inputs("/w/images"), minutes: 2 });
  assert.match(planned, /data\/runs\/cpu-2min-seed0-w-images$/);
});
