/**
 * `--minutes`: the estimate prices the units of work the run will do, the plan is the largest
 * scale that fits, and a folder's plan is kept on resume instead of planned again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PRESETS } from "@/run/presets.ts";
import {
  estimateSeconds,
  MAX_SCALE,
  planBudget,
  REFERENCE_COSTS,
  refitStages,
  refitTransfer,
  scalePreset,
  totalSeconds,
  type Workload,
} from "@/train/budget.ts";
import { budgetPreset } from "@/pipeline/budget.ts";
import { changePreset } from "@/run/preset_changes.ts";
import { UsageError } from "@/errors.ts";
import { jobFiles, runFiles } from "@/layout.ts";
import { tempDir } from "../fixtures.ts";

/** ImageWoof's train folder as the main job sees it. */
const IMAGEWOOF: Workload = {
  photos: 9025,
  val: 816,
  test: 899,
  flip: false,
  transfer: true,
  predicts: true,
};

Deno.test("budget: the reference costs give back the run they were measured on", () => {
  // `--minutes 10` on the reference machine: scale 6, 10 min 56 s from process start to end;
  // about 5 min 48 s with its decoding, trunk batches and top steps at this version's pace.
  const six = scalePreset(PRESETS.cpu, 6);
  const e = estimateSeconds(six, IMAGEWOOF, REFERENCE_COSTS);
  // Train_DA 2880 + Train 1800 + three transfer policies x 900, the validation photos per run.
  assert.equal(Math.round(e["trunk caching"] / REFERENCE_COSTS.trunkBatch), 7432);
  // 3,600 stage-1 steps on pooled features; 3,600 + 2,700 stage 2-3 and transfer steps.
  const steps = 3600 * REFERENCE_COSTS.headStep + 6300 * REFERENCE_COSTS.topStep;
  assert.ok(Math.abs(e["training steps"] - steps) < 1e-9);
  const sooner = 7432 * (367 / 7432) * (1 - (57 / 73) * 0.87 * 0.81) +
    6300 * (236 / 6300) * (1 - (26 - 3.4) / (56 - 3.4)) + 11 * (1 - 0.25);
  assert.ok(Math.abs(totalSeconds(e) - (656 - sooner)) < 15, `${totalSeconds(e)}`);
  // Without the transfer and the predictions (deno task train): the transfer's work is gone.
  const train = estimateSeconds(
    six,
    { ...IMAGEWOOF, transfer: false, predicts: false },
    REFERENCE_COSTS,
  );
  assert.equal(Math.round(train["trunk caching"] / REFERENCE_COSTS.trunkBatch), 2880 + 1800 + 26);
  assert.equal(train["test predictions"], 0);
});

Deno.test("budget: a scaled preset scales views and steps, with floors", () => {
  const double = scalePreset(PRESETS.cpu, 2);
  assert.equal(double.cachedBatches, 960);
  assert.deepEqual(double.stages.map((s) => s.stepsPerRound), [300, 300, 300]);
  assert.deepEqual(double.transferStages.map((s) => s.stepsPerRound), [300, 300, 300]);
  assert.deepEqual(double.stages.map((s) => s.rounds), PRESETS.cpu.stages.map((s) => s.rounds));
  const tiny = scalePreset(PRESETS.cpu, 0.001);
  assert.equal(tiny.cachedBatches, 8);
  assert.ok(tiny.stages.every((s) => s.stepsPerRound === 10));
});

Deno.test("budget: the plan is the largest scale that fits, on this machine's speed", () => {
  for (const minutes of [3, 5, 10]) {
    for (const speed of [0.6, 1, 2]) {
      const plan = planBudget(PRESETS.cpu, minutes, IMAGEWOOF, speed);
      const at = (scale: number) =>
        speed *
        totalSeconds(estimateSeconds(scalePreset(PRESETS.cpu, scale), IMAGEWOOF, REFERENCE_COSTS));
      assert.equal(plan.name, `cpu-${minutes}min`);
      assert.equal(plan.budget.minutes, minutes);
      assert.ok(at(plan.budget.scale) <= minutes * 60, `${minutes} min at ${speed}x fits`);
      if (plan.budget.scale < MAX_SCALE) {
        assert.ok(
          at(plan.budget.scale + 0.02) > minutes * 60,
          `${minutes} min at ${speed}x is filled`,
        );
      }
    }
  }
  // A slower machine gets a smaller plan; a longer budget a larger one.
  const scale = (minutes: number, speed: number) =>
    planBudget(PRESETS.cpu, minutes, IMAGEWOOF, speed).budget.scale;
  assert.ok(scale(5, 2) < scale(5, 1) && scale(5, 1) < scale(10, 1));
  // The transfer costs minutes: without it the same budget buys more views.
  const noTransfer = planBudget(PRESETS.cpu, 5, { ...IMAGEWOOF, transfer: false }, 1);
  assert.ok(noTransfer.budget.scale > scale(5, 1));
});

Deno.test("budget: what cannot be planned is one line saying why", () => {
  assert.throws(
    () => planBudget(PRESETS.cpu, 0.2, IMAGEWOOF, 1),
    (e: Error) =>
      e instanceof UsageError && /smallest plan needs about \d+ s on this machine/.test(e.message),
  );
  assert.throws(
    () => planBudget(PRESETS.seed, 60, IMAGEWOOF, 1),
    (e: Error) => e instanceof UsageError && /cached-mode presets/.test(e.message),
  );
  // The costs are the seed's cut's: another cut is refused, the seed's own named is planned.
  assert.throws(
    () => planBudget(changePreset(PRESETS.cpu, { unfreezeFrom: "block_14" }), 5, IMAGEWOOF, 1),
    new UsageError(
      "--minutes 5: budgets are priced for mobilenet_v2 unfrozen from block_15, not from " +
        "block_14: choose rounds and steps instead (--rounds, --steps)",
    ),
  );
  const named = changePreset(PRESETS.cpu, { unfreezeFrom: "block_15" });
  assert.equal(
    planBudget(named, 5, IMAGEWOOF, 1).budget.scale,
    planBudget(PRESETS.cpu, 5, IMAGEWOOF, 1).budget.scale,
  );
});

Deno.test("budget: a folder started under a budget keeps its plan (train and reproduce folders)", async () => {
  const dir = await tempDir();
  const saved = { ...scalePreset(PRESETS.cpu, 1.37), name: "cpu-5min" };
  const plan = { minutes: 5, scale: 1.37, speed: 1.2, seconds: 290 };
  for (
    const [out, runDir, job] of [
      [join(dir, "run"), join(dir, "run"), undefined],
      [join(dir, "job"), jobFiles(join(dir, "job")).train, {}],
    ] as const
  ) {
    await Deno.mkdir(runDir, { recursive: true });
    await Deno.writeTextFile(
      runFiles(runDir).config,
      JSON.stringify({ preset: { ...saved, budget: plan } }),
    );
    const lines: string[] = [];
    const preset = await budgetPreset({
      data: "/nonexistent", // not read: the saved plan is used as it is
      preset: PRESETS.cpu,
      minutes: 5,
      out,
      job,
      log: (line) => lines.push(line),
    });
    assert.deepEqual(preset.budget, plan);
    assert.equal(preset.cachedBatches, saved.cachedBatches);
    assert.match(lines.join("\n"), /the plan .* was started with/);
  }
});

Deno.test("budget: the transfer absorbs the pace the probe misjudged", () => {
  const plan = planBudget(PRESETS.cpu, 5, IMAGEWOOF, 1);
  const base = totalSeconds(
    estimateSeconds(plan, { ...IMAGEWOOF, transfer: false }, REFERENCE_COSTS),
  );
  // On pace: the transfer keeps (about) its planned steps.
  const onPace = refitTransfer(plan, IMAGEWOOF, base);
  assert.equal(onPace.pace, 1);
  assert.ok(Math.abs(onPace.factor - 1) <= 0.03, `${onPace.factor}`);
  // 20% slower than estimated: fewer transfer steps, and what is left still fits.
  const slow = refitTransfer(plan, IMAGEWOOF, 1.2 * base);
  assert.ok(slow.factor < 0.8, `${slow.factor}`);
  const transferSeconds = (stages: typeof slow.stages) =>
    totalSeconds(estimateSeconds({ ...plan, transferStages: stages }, IMAGEWOOF, REFERENCE_COSTS)) -
    base;
  assert.ok(1.2 * transferSeconds(slow.stages) <= 300 - 1.2 * base);
  assert.deepEqual(slow.stages.map((s) => s.rounds), plan.transferStages.map((s) => s.rounds));
  // Faster: more; out of time: the floor.
  assert.ok(refitTransfer(plan, IMAGEWOOF, 0.8 * base).factor > 1.2);
  assert.equal(refitTransfer(plan, IMAGEWOOF, 400).factor, 0.1);
});

Deno.test("budget: later stages absorb the pace kept so far; a transfer with no time is flagged", () => {
  const plan = planBudget(PRESETS.cpu, 5, IMAGEWOOF, 1.5);
  const stages = plan.stages;
  const seconds = (s: readonly typeof stages[number][], w: Workload) =>
    1.5 * totalSeconds(estimateSeconds({ ...plan, stages: [...s] }, w, REFERENCE_COSTS));
  const first = seconds(stages.slice(0, 1), { ...IMAGEWOOF, transfer: false, predicts: false });
  // Stage 1 as estimated: the rest keeps (about) its steps.
  const onPace = refitStages(plan, stages, 1, IMAGEWOOF, first);
  assert.equal(onPace.pace, 1);
  assert.ok(Math.abs(onPace.factor - 1) <= 0.03, `${onPace.factor}`);
  assert.deepEqual(onPace.stages[0], stages[0], "the stage done is as it was");
  // A third slower (another process took some of the cores after the probe): fewer steps from
  // stage 2 on, and the job's rest, at that pace, still ends within the budget.
  const slow = refitStages(plan, stages, 1, IMAGEWOOF, 1.3 * first);
  assert.equal(slow.pace, 1.3);
  assert.ok(slow.factor < 0.8, `${slow.factor}`);
  assert.ok(1.3 * (seconds(slow.stages, IMAGEWOOF) - first) <= 300 - 1.3 * first);
  assert.deepEqual(slow.stages.map((s) => s.rounds), stages.map((s) => s.rounds));
  // Out of time: the floor.
  assert.equal(refitStages(plan, stages, 1, IMAGEWOOF, 2 * first).factor, 0.1);
  // Faster than planned: the planned steps, never more (the transfer's fit takes the time left).
  assert.equal(refitStages(plan, stages, 1, IMAGEWOOF, 0.7 * first).factor, 1);
  // The transfer: flagged when not even its smallest share fits.
  assert.equal(refitTransfer(plan, IMAGEWOOF, 400).fits, false);
  assert.equal(refitTransfer(plan, IMAGEWOOF, 100).fits, true);
});
