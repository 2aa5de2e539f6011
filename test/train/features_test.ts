import assert from "node:assert/strict";
import { initBackend } from "@/engine/tf.ts";
import { type ActivationSet, batchesRead } from "@/train/features.ts";
import { activationSource } from "@/train/step.ts";
import { PRESETS } from "@/run/presets.ts";
import { planStages } from "@/train/stage.ts";

await initBackend({ quiet: true });

const reading = (stages: ReturnType<typeof planStages>, policy: string) =>
  stages.filter((s) => s.spec.policy === policy)
    .map((s) => ({ firstStep: s.firstStep, steps: s.spec.rounds * s.spec.stepsPerRound }));

Deno.test("batchesRead: only the cached batches a policy's steps read (the cpu preset by hand)", () => {
  const cycle = PRESETS.cpu.cachedBatches; // 480
  const base = planStages(PRESETS.cpu.stages);
  // Train_DA: stage 1 reads steps 0..599 (round the cycle), stage 2 steps 600..899: all 480.
  assert.equal(batchesRead(reading(base, "Train_DA"), cycle).length, 480);
  // Train: stage 3's steps 900..1199 read batches 420..479 and 0..239.
  const train = batchesRead(reading(base, "Train"), cycle);
  assert.equal(train.length, 300);
  assert.deepEqual(
    train,
    [...Array(240).keys(), ...Array.from({ length: 60 }, (_, i) => 420 + i)],
  );
  // Transfer: 150 steps per policy, at steps 0, 150, 300 of the transfer run.
  const transfer = planStages(PRESETS.cpu.transferStages);
  assert.deepEqual(batchesRead(reading(transfer, "Transfer_DA"), cycle), [...Array(150).keys()]);
  assert.deepEqual(
    batchesRead(reading(transfer, "Train"), cycle),
    Array.from({ length: 150 }, (_, i) => 300 + i),
  );
});

Deno.test("activationSource: step k reads the same batch from the read batches as from all of them", () => {
  const cycle = 12;
  const batch = 2;
  const all: ActivationSet = {
    x: Float32Array.from({ length: cycle * batch * 3 }, (_, i) => i),
    labels: Int32Array.from({ length: cycle * batch }, (_, i) => i),
    n: cycle * batch,
    shape: [3],
  };
  const read = batchesRead([{ firstStep: 7, steps: 8 }], cycle); // steps 7..14: 7..11, 0..2
  assert.deepEqual(read, [0, 1, 2, 7, 8, 9, 10, 11]);
  const subset: ActivationSet = {
    x: Float32Array.from(read.flatMap((b) => [...all.x.subarray(b * 6, b * 6 + 6)])),
    labels: Int32Array.from(read.flatMap((b) => [...all.labels.subarray(b * 2, b * 2 + 2)])),
    n: read.length * batch,
    shape: [3],
    batches: read,
  };
  const full = activationSource(all, batch, null, cycle);
  const some = activationSource(subset, batch, null, cycle);
  for (let k = 7; k < 15; k++) {
    const [a, b] = [full.batch(k), some.batch(k)];
    assert.deepEqual(b.x.dataSync(), a.x.dataSync(), `step ${k}`);
    assert.deepEqual(b.labels, a.labels);
  }
  assert.throws(() => some.batch(15), /stream batch 3 was not cached/);
});
