/**
 * The levers in a real (small) run: early stopping ends a stage and the next one starts where the
 * plan puts it, a re-run finds the stopped stage complete; a schedule sets tfjs' optimizer at every
 * step; mixup and label smoothing change the weights a run trains to; an earlier cut trains more
 * of the backbone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "@/engine/tf.ts";
import { train, type TrainOptions } from "@/train/run.ts";
import { type Preset, PRESETS, smallPreset } from "@/run/presets.ts";
import { changePreset } from "@/run/preset_changes.ts";
import { learningRateAt } from "@/train/schedule.ts";
import type { Callback } from "@/train/round.ts";
import { loadRun } from "@/run/load.ts";
import { disposeSeedModel } from "@/model/seed_model.ts";
import { makeColourDataset, SHARED_MOBILENET, tempDir } from "../fixtures.ts";

await initBackend({ quiet: true });

/** A quiet run of `preset` on the colour dataset in `dir/data`, into `dir/name`. */
const runOptions = (dir: string, name: string, preset: Preset): TrainOptions => ({
  data: join(dir, "data"),
  weights: SHARED_MOBILENET,
  out: join(dir, name),
  preset,
  cacheDir: join(dir, "cache"),
  trunkWorkers: 1,
  progress: false,
  log: () => {},
});

const checkpoints = async (out: string) =>
  (await Array.fromAsync(Deno.readDir(join(out, "checkpoints")))).map((e) => e.name).sort();

Deno.test("levers: early stopping ends a stage; the next starts on plan; a re-run trains nothing", async () => {
  const dir = await tempDir();
  await makeColourDataset(join(dir, "data"));
  const small = smallPreset(PRESETS.cpu);
  // Stage 1 cannot improve (a rate of 1e-12): with patience 1 it stops after its second round.
  const preset: Preset = {
    ...small,
    name: "patience",
    stages: [
      {
        ...small.stages[0],
        rounds: 4,
        optimizer: { kind: "adam", learningRate: 1e-12 },
        patience: 1,
      },
      { ...small.stages[1], rounds: 2 },
    ],
  };
  const log: string[] = [];
  const options = { ...runOptions(dir, "run", preset), log: (line: string) => log.push(line) };
  const first = await train(options);
  assert.deepEqual(first.history.map((h) => h.round), [1, 2, 5, 6]);
  assert.ok(
    log.some((l) => /stage 1 \(frozen\) stops early after round 2: 1 round/.test(l)),
    log.join("\n"),
  );
  const saved = await checkpoints(options.out);
  const again: string[] = [];
  const second = await train({ ...options, log: (line) => again.push(line) });
  assert.deepEqual(second.history.map((h) => h.round), [1, 2, 5, 6]);
  assert.ok(again.some((l) => /^complete: all 6 rounds trained/.test(l)), again.join("\n"));
  assert.deepEqual(await checkpoints(options.out), saved);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("levers: a schedule sets the rate of every step; mixup and smoothing change the weights", async () => {
  const dir = await tempDir();
  await makeColourDataset(join(dir, "data"));
  const base = { ...smallPreset(PRESETS.cpu), transferStages: [] };
  const stage1 = (preset: Preset) => ({ ...preset, stages: preset.stages.slice(0, 1) });
  const seen: { step: number; lr: number; want: number }[] = [];
  const watch: Callback = {
    onRoundEnd(info, _metrics, optimizer) {
      const total = info.stage.rounds * info.stage.stepsPerRound;
      const last = info.step + info.stage.stepsPerRound - 1 - info.stageStart;
      seen.push({
        step: last,
        lr: (optimizer as unknown as { learningRate: number }).learningRate,
        want: learningRateAt(info.stage, last, total),
      });
    },
  };
  const run = async (name: string, preset: Preset, callbacks: Callback[] = []) => {
    await train({ ...runOptions(dir, name, stage1(preset)), callbacks });
    return await Deno.readFile(
      join(dir, name, "checkpoints", (await checkpoints(join(dir, name))).at(-1)!, "weights.bin"),
    );
  };
  const cosine = changePreset(base, { schedule: "cosine", rounds: [2] });
  await run("cosine", cosine, [watch]);
  assert.equal(seen.length, 2);
  for (const s of seen) assert.equal(s.lr, s.want);
  assert.ok(seen[1].lr < seen[0].lr && seen[0].lr < base.stages[0].optimizer.learningRate);

  const plain = await run("plain", base);
  const smoothed = await run("smoothed", changePreset(base, { labelSmoothing: 0.2 }));
  const mixed = await run("mixed", changePreset(base, { mixup: 0.4 }));
  assert.notDeepEqual(smoothed, plain);
  assert.notDeepEqual(mixed, plain);
  assert.deepEqual(await run("plain-again", base), plain, "the same recipe trains the same bits");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("levers: --unfreeze-from moves the trunk's cut and trains the blocks from it on", async () => {
  const dir = await tempDir();
  await makeColourDataset(join(dir, "data"));
  // Stage 1 (heads) and stage 2 (the backbone from the cut on), one round of 4 steps each.
  const base = { ...smallPreset(PRESETS.cpu), transferStages: [] };
  const twoStages = (preset: Preset) => ({ ...preset, stages: preset.stages.slice(0, 2) });
  const weightsOf = async (preset: Preset, name: string) => {
    const options = runOptions(dir, name, twoStages(preset));
    await train(options);
    const { model } = await loadRun(options.out, "latest");
    const layer = (name: string) =>
      model.backbone.model.getLayer(name).getWeights().map((w) => Array.from(w.dataSync()));
    const kernels = Object.fromEntries(
      ["block_12_project", "block_13_project", "block_14_project", "block_15_project"]
        .map((name) => [name, layer(name)]),
    );
    disposeSeedModel(model);
    return kernels;
  };
  // block_13 takes the 14x14 map: a trunk still cut at block_15 (7x7) would not fit it.
  const deeper = await weightsOf(changePreset(base, { unfreezeFrom: "block_13" }), "deeper");
  const seeds = await weightsOf(base, "seeds");
  assert.deepEqual(deeper.block_12_project, seeds.block_12_project, "frozen in both");
  assert.notDeepEqual(deeper.block_13_project, seeds.block_13_project, "trained from block 13 on");
  assert.notDeepEqual(deeper.block_14_project, seeds.block_14_project);
  assert.notDeepEqual(deeper.block_15_project, seeds.block_15_project);
  await Deno.remove(dir, { recursive: true });
});
