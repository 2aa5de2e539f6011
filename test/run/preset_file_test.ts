/**
 * Recipes as data: every built-in preset prints as a file that reads back as the same preset; a
 * bad field is one line naming the file and the field; the everyday options change exactly what
 * they name, and the changed preset is named after them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PRESETS } from "@/run/presets.ts";
import { parsePreset, presetJson, readPresetFile } from "@/run/preset_file.ts";
import { changePreset } from "@/run/preset_changes.ts";
import { changedPreset, parseRunArgs, presetChanges, runInputs } from "@/cli/run_args.ts";
import { UsageError } from "@/errors.ts";
import { cli, decode, SHARED_IMAGEWOOF, tempDir } from "../fixtures.ts";
import { notebookPreset, notebookRunFolder } from "@/pipeline/notebook.ts";

Deno.test("preset files: every built-in preset round-trips, also through the presets task", async () => {
  for (const preset of Object.values(PRESETS)) {
    assert.deepEqual(parsePreset(JSON.parse(presetJson(preset)), "x.json"), preset);
  }
  const dir = await tempDir();
  const printed = await cli("presets", "cpu", "--mixup", "0.2", "--schedule", "cosine").output();
  assert.equal(printed.code, 0, decode(printed.stderr));
  const file = join(dir, "mine.json");
  await Deno.writeFile(file, printed.stdout);
  const mine = await readPresetFile(file);
  assert.equal(mine.name, "cpu+sched=cosine+mixup=0.2");
  assert.deepEqual(mine, changePreset(PRESETS.cpu, { mixup: 0.2, schedule: "cosine" }));
  // --preset FILE is the preset a run works with; a file without a name is named after itself.
  const { name: _, ...unnamed } = JSON.parse(presetJson(PRESETS.quick));
  await Deno.writeTextFile(join(dir, "my quick.json"), JSON.stringify(unnamed));
  const values = parseRunArgs("", {}, [
    "--preset",
    join(dir, "my quick.json"),
    "--data",
    SHARED_IMAGEWOOF,
  ]);
  assert.deepEqual((await runInputs(values)).preset, { ...PRESETS.quick, name: "my_quick" });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("preset files: a bad field is one line naming the file and the field", async () => {
  const cpu = () => JSON.parse(presetJson(PRESETS.cpu));
  // deno-lint-ignore no-explicit-any
  const cases: [(p: Record<string, any>) => void, string][] = [
    [(p) => p.stages[1].optimizer.learningRate = -1, "stages[1].optimizer.learningRate: Too small"],
    [(p) => p.stages[0].sheduel = "cosine", 'stages[0]: Unrecognized key: "sheduel"'],
    [(p) => p.stages[2].schedule = "linear", "stages[2].schedule: Invalid option"],
    [(p) => p.batchSize = 31, "batchSize: an even number (pairs of one breed)"],
    [(p) => p.stages[0].policy = "Mixup", "stages[0].policy: Invalid option"],
    [(p) => p.backbone.name = "resnet50", "backbone.name: Invalid option"],
    [(p) => p.regularize = { labelSmoothing: 1 }, "regularize.labelSmoothing: Too big"],
    [(p) => p.stages = [], "stages: Too small"],
    [(p) => p.cachedBatches = 0, "cachedBatches: a cached preset caches at least one batch"],
    [(p) => p.flip = "yes", "flip: Invalid input: expected boolean"],
    [
      (p) => p.backbone.unfreezeFrom = "block13",
      "backbone.unfreezeFrom: no stage 'block13' of mobilenet_v2 (expected one of expanded_conv, ",
    ],
  ];
  for (const [spoil, expected] of cases) {
    const preset = cpu();
    spoil(preset);
    assert.throws(
      () => parsePreset(preset, "my.json"),
      (error: Error) => {
        assert.ok(error.message.startsWith(`my.json: ${expected}`), error.message);
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
    );
  }
  // From the command line: exit 2, the one line, nothing else.
  const dir = await tempDir();
  const file = join(dir, "bad.json");
  await Deno.writeTextFile(file, '{ "name": "x", "stages": [ }');
  const out = await cli("train", "--preset", file, "--out", join(dir, "run")).output();
  assert.equal(out.code, 2);
  assert.match(decode(out.stderr).trim(), new RegExp(`^error: ${file}: not valid JSON \\(.*\\)$`));
  assert.equal(await Deno.stat(join(dir, "run")).catch(() => undefined), undefined);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("preset changes: each option changes what it names, and names the preset", () => {
  const cpu = PRESETS.cpu;
  assert.equal(
    changePreset(cpu, {}),
    cpu,
    "no changes: the preset itself (its folder, its identity)",
  );
  const all = [...cpu.stages, ...cpu.transferStages];
  const lr = changePreset(cpu, { lr: [2e-3, 3e-4] });
  assert.deepEqual(
    [...lr.stages, ...lr.transferStages].map((s) => s.optimizer.learningRate),
    [2e-3, 3e-4, 3e-4, 3e-4, 3e-4, 3e-4],
  );
  const scaled = changePreset(cpu, { lrScale: 0.5 });
  assert.deepEqual(
    [...scaled.stages, ...scaled.transferStages].map((s) => s.optimizer.learningRate),
    all.map((s) => s.optimizer.learningRate * 0.5),
  );
  const rounds = changePreset(cpu, { rounds: [6, 3], steps: 100 });
  assert.deepEqual(rounds.stages.map((s) => [s.rounds, s.stepsPerRound]), [[6, 100], [3, 100], [
    3,
    100,
  ]]);
  assert.deepEqual(rounds.transferStages.map((s) => s.rounds), [3, 3, 3]);
  const shape = changePreset(cpu, { batchSize: 16, size: 160, cachedBatches: 100 });
  assert.deepEqual([shape.batchSize, shape.backbone.size, shape.cachedBatches], [16, 160, 100]);
  const wide = changePreset(cpu, { backbone: { name: "mobilenet_v2", alpha: 1 } });
  assert.deepEqual(wide.backbone, { name: "mobilenet_v2", alpha: 1, size: 224 });
  const deeper = changePreset(cpu, { unfreezeFrom: "block_13" });
  assert.deepEqual(deeper.backbone, { ...cpu.backbone, unfreezeFrom: "block_13" });
  assert.equal(deeper.name, "cpu+unfreeze=block_13");
  // Another backbone names its stages otherwise: it takes its own cut, unless one is given.
  const other = changePreset(deeper, { backbone: { name: "xception" } });
  assert.deepEqual(other.backbone, { name: "xception", size: 224 });
  assert.equal(
    changePreset(deeper, { backbone: { name: "xception" }, unfreezeFrom: "block12" }).backbone
      .unfreezeFrom,
    "block12",
  );
  const levers = changePreset(cpu, {
    schedule: "one-cycle",
    warmup: 0.3,
    patience: 2,
    labelSmoothing: 0.1,
    mixup: 0.2,
    cutmix: 1,
    ema: 0.99,
  });
  for (const s of [...levers.stages, ...levers.transferStages]) {
    assert.deepEqual([s.schedule, s.warmup, s.patience], ["one-cycle", 0.3, 2]);
  }
  assert.deepEqual(levers.regularize, { labelSmoothing: 0.1, mixup: 0.2, cutmix: 1 });
  assert.equal(levers.ema, 0.99);
  assert.equal(
    levers.name,
    "cpu+sched=one-cycle+warmup=0.3+patience=2+ls=0.1+mixup=0.2+cutmix=1+ema=0.99",
  );
  assert.equal(changePreset(levers, { ema: 0 }).ema, undefined, "--ema 0: none");
  // The options' spelling of the same changes.
  assert.deepEqual(
    presetChanges({
      lr: "x0.5",
      rounds: "6,3",
      schedule: "cosine",
      mixup: "0.2",
      backbone: "mobilenet_v2:1",
      "unfreeze-from": "block_14",
    }),
    {
      lrScale: 0.5,
      rounds: [6, 3],
      schedule: "cosine",
      mixup: 0.2,
      backbone: { name: "mobilenet_v2", alpha: 1 },
      unfreezeFrom: "block_14",
    },
  );
  // A stage the backbone lacks is one line before anything runs.
  assert.throws(
    () => changedPreset(cpu, { "unfreeze-from": "block_17" }),
    new UsageError(
      "--unfreeze-from 'block_17': expected a stage of mobilenet_v2: expanded_conv, block_1, " +
        Array.from({ length: 15 }, (_, i) => `block_${i + 2}`).join(", ") + ", head_conv",
    ),
  );
  assert.equal(
    changedPreset(cpu, { "unfreeze-from": "head_conv" }).backbone.unfreezeFrom,
    "head_conv",
  );
});

Deno.test("preset changes: the notebooks take the same changes, into a folder of their own", () => {
  const changes = { mixup: 0.2, schedule: "cosine" as const };
  assert.deepEqual(notebookPreset(changes).regularize, { mixup: 0.2 });
  assert.match(notebookRunFolder(changes), /notebook-cpu\+sched=cosine\+mixup=0\.2(-small)?$/);
  assert.notEqual(notebookRunFolder(changes), notebookRunFolder());
});
