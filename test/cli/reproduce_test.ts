/**
 * The main job end to end on a tiny dataset (--small): submission format, scores, and a run
 * killed inside the transfer step that, run again, resumes there and ends with the same files.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readSplit } from "@/data/prepare.ts";
import { readRows } from "@/data/table.ts";
import { makeColourDataset, SHARED_MOBILENET, smallRun, tempDir } from "../fixtures.ts";

function command(data: string, out: string, cache: string) {
  return smallRun("reproduce", data, out, cache);
}

const FILES = [
  "submission_main.txt",
  "submission_aux.txt",
  "submission_blend.txt",
  "probabilities.tsv",
];

Deno.test("deno task reproduce: submissions in the seed's format; a killed run resumes to the same files", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);
  // Ids are opaque: names with leading, trailing and inner spaces and quotes survive every file
  // (every photo of a class renamed, so some of them are among the carved-off test photos).
  const odd: string[] = [];
  for (let i = 0; i < 24; i++) {
    const id = [` lead${i}`, `trail${i} `, `in ner${i}`, `qu"ote${i}`][i % 4];
    await Deno.rename(join(data, "class1", `p1_${i}.jpg`), join(data, "class1", `${id}.jpg`));
    odd.push(`class1/${id}.jpg`);
  }

  // The first run under strace, with a HOME of its own: ONNX Runtime (main thread and trunk
  // workers) must not start its telemetry (a device id and event queue under ~/.cache/Microsoft)
  // nor open its debug file at a predictable name in /tmp.
  const out = join(dir, "whole");
  const home = join(dir, "home");
  await Deno.mkdir(home);
  const trace = join(dir, "trace");
  const { denoDir } = JSON.parse(
    new TextDecoder().decode(
      (await new Deno.Command(Deno.execPath(), {
        args: ["info", "--json"],
        stdout: "piped",
      }).output()).stdout,
    ),
  );
  const whole = await new Deno.Command("strace", {
    args: [
      "-f",
      "--seccomp-bpf",
      "-e",
      "trace=open,openat,creat",
      "-o",
      trace,
      Deno.execPath(),
      ...[
        ...["run", "-A", "lib/cli/reproduce.ts", "--small", "--data", data, "--out", out],
        ...["--cache-dir", cache, "--weights", SHARED_MOBILENET],
      ],
    ],
    env: { HOME: home, XDG_CACHE_HOME: join(home, ".cache"), DENO_DIR: denoDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const opened = await Deno.readTextFile(trace);
  assert.match(opened, /libonnxruntime\.so/, "ONNX Runtime was loaded (else this proves nothing)");
  assert.doesNotMatch(opened, /mat-debug|\.onnxruntime|Microsoft/, "no telemetry file opened");
  // The job reads its inputs once and hands them to both of its runs: the weights' shard is
  // opened once (not checked, hashed and loaded apart, once more for the transfer run).
  assert.equal(
    opened.match(/^\d+ +open(at)?\(.*mobilenet_v2_0\.35_224\/weights\.bin"/gm)?.length,
    1,
    "weights.bin opened once",
  );
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(home))).map((e) => e.name),
    [],
    "nothing written to the HOME",
  );
  const stdout = new TextDecoder().decode(whole.stdout);
  assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr).slice(-2000));
  assert.match(stdout, /test part, before transfer: main [\d.]+%, aux [\d.]+%, blend [\d.]+%/);
  assert.match(stdout, /test part, after transfer: .*\((\d+) pseudo-labels\)/);
  assert.match(stdout, /wall time/);
  // Training rounds score held-out validation photos; the transfer's say they train on them.
  const log = new TextDecoder().decode(whole.stderr);
  assert.equal(log.match(/^ {2}val main /gm)?.length, 3, "the three training stages' rounds");
  assert.equal(log.match(/^ {2}val \(photos it trains on\) main /gm)?.length, 3, "the transfer's");

  // The transfer run trains on every labelled photo plus the pseudo-labels (its run.json says so).
  const transfer = JSON.parse(await Deno.readTextFile(join(out, "transfer", "run.json")));
  assert.equal(transfer.identity.settings.trainOnVal, true);
  assert.match(transfer.identity.settings.pseudoLabels, /^[0-9a-f]{16}$/);
  assert.match(transfer.identity.settings.init, /^round\d\d-main/);

  const split = await readSplit(join(out, "train"));
  const testIds = split.test.map((t) => t.id).sort();
  assert.ok(testIds.length >= 6);
  const allIds = [...split.train, ...split.val, ...split.test].map((t) => t.id);
  assert.deepEqual(odd.filter((id) => allIds.includes(id)), odd, "odd ids read back exactly");
  assert.ok(odd.some((id) => testIds.includes(id)), "an odd id among the test photos");

  // The same command again on the finished job: it reports what it stored and rewrites nothing
  // (every file's bytes and modification time as they were: summary.json's timings included).
  const stamps = async () => {
    const seen: string[] = [];
    const walk = async (d: string) => {
      for await (const e of Deno.readDir(d)) {
        const p = join(d, e.name);
        if (e.isDirectory) await walk(p);
        else {seen.push(
            `${p} ${(await Deno.stat(p)).mtime?.getTime()} ${await Deno.readFile(p).then((b) =>
              b.length
            )}`,
          );}
      }
    };
    await walk(out);
    return seen.sort();
  };
  const before = await stamps();
  const summaryBefore = await Deno.readTextFile(join(out, "summary.json"));
  const again = await command(data, out, cache).output();
  assert.equal(again.code, 0, new TextDecoder().decode(again.stderr).slice(-2000));
  assert.match(new TextDecoder().decode(again.stdout), /: finished earlier, nothing redone/);
  assert.deepEqual(await stamps(), before, "nothing rewritten");
  assert.equal(await Deno.readTextFile(join(out, "summary.json")), summaryBefore);
  for (const name of FILES.slice(0, 3)) {
    for (const folder of ["submissions/before-transfer", "submissions"]) {
      const rows = await readRows(join(out, folder, name), { delimiter: "\t" });
      assert.equal(rows.length, testIds.length, `${folder}/${name}: one line per test photo`);
      assert.deepEqual(rows.map((r) => r[1]).sort(), testIds, "ids round-trip");
      assert.ok(
        rows.every((r) => r.length === 2 && split.labels.has(r[0])),
        "labels are the dataset's own ids",
      );
    }
  }

  // Kill a second run inside the transfer step, after its first checkpoint (frozen with SIGSTOP
  // the moment it appears, so where it stopped is checked), then run the same command again.
  const killed = join(dir, "killed");
  const child = command(data, killed, cache).spawn();
  const deadline = Date.now() + 180_000;
  const transferCheckpoints = async () =>
    (await Array.fromAsync(Deno.readDir(join(killed, "transfer", "checkpoints"))).catch(() => []))
      .filter((e) => /^round\d+-/.test(e.name) && !e.name.includes(".tmp-")).length;
  while ((await transferCheckpoints()) === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill("SIGSTOP");
  const stoppedAt = await transferCheckpoints();
  const finished = await Deno.stat(join(killed, "submissions", "submission_blend.txt"))
    .then(() => true, () => false);
  child.kill("SIGKILL");
  assert.equal((await child.output()).signal, "SIGKILL");
  assert.equal(stoppedAt, 1, "stopped after the first of the transfer's three rounds");
  assert.ok(!finished, "before the final submissions");
  const resumed = await command(data, killed, cache).output();
  const resumedLog = new TextDecoder().decode(resumed.stderr);
  assert.equal(resumed.code, 0, resumedLog.slice(-2000));
  assert.match(resumedLog, /resuming after round 1 \(.*transfer\/checkpoints\/round01-/);
  // At threshold 0 (the seed) every test photo becomes a pseudo-label.
  assert.match(
    new TextDecoder().decode(resumed.stdout),
    new RegExp(`test part, after transfer: .*\\(${testIds.length} pseudo-labels\\)`),
  );
  for (const folder of ["submissions/before-transfer", "submissions"]) {
    for (const name of FILES) {
      assert.equal(
        await Deno.readTextFile(join(killed, folder, name)),
        await Deno.readTextFile(join(out, folder, name)),
        `${folder}/${name} identical`,
      );
    }
  }
  await Deno.remove(dir, { recursive: true });
});
