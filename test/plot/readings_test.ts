/**
 * The sentences under the notebooks' figures (lib/plot/readings.ts) say what the numbers say:
 * each is fed a small case worked out by hand.
 */
import assert from "node:assert/strict";
import {
  blendReading,
  budgetReading,
  changeReading,
  confidenceReading,
  countsReading,
  lossReading,
  perBreedReading,
  splitReading,
  stageReading,
} from "@/plot/readings.ts";
import type { HistoryRow } from "@/run/history.ts";

const row = (
  round: number,
  stage: string,
  blend: number,
  loss: number,
  valLoss = 1,
): HistoryRow => ({
  round,
  stage,
  step: round * 10,
  seconds: round,
  metrics: {
    main: blend - 0.01,
    aux: blend - 0.02,
    blend,
    alpha: 0.5,
    loss: { total: loss, main: loss, center: 0, aux: 0 },
    valLoss,
  },
});

Deno.test("readings: counts and split name the extremes", () => {
  const counts = countsReading(["a", "b", "c"], [10, 30, 20]);
  assert.match(
    counts,
    /3 breeds, 60 photos: from 10 \(a\) to 30 \(b\) per breed, a ratio of 3\.00/,
  );
  assert.match(counts, /Unbalanced/);
  assert.match(countsReading(["a", "b"], [10, 12]), /Close to balanced/);
  const split = splitReading([
    { name: "a", kept: 8, heldOut: 1, test: 1 },
    { name: "b", kept: 16, heldOut: 2, test: 2 },
  ]);
  assert.match(split, /80% train, 10% validation, 10% test/);
  assert.match(split, /1 validation photos \(a\) and 1 test photos \(a\).*100\.0%/);
});

Deno.test("readings: a stage starts where the round before it ended", () => {
  const history = [
    row(1, "frozen", 0.5, 2),
    row(2, "frozen", 0.7, 1.5),
    row(3, "fine-tune", 0.8, 1.2),
    row(4, "fine-tune", 0.75, 1.1),
  ];
  const first = stageReading(history, "frozen");
  assert.match(
    first,
    /rounds 1–2\): the validation blend went from 50\.0% to 70\.0% \(\+20\.0 points\)/,
  );
  const second = stageReading(history, "fine-tune");
  assert.match(
    second,
    /from 70\.0% \(the round before\) to 75\.0% \(\+5\.0 points\), its best 80\.0% at round 3/,
  );
  assert.match(second, /training loss went from 1\.500 to 1\.100/);
  assert.match(stageReading(history, "polish"), /no rounds/);
  // A first stage of one round has nothing to start from; one after another starts from it.
  const single = [row(1, "transfer-DA", 0.84, 0.95), row(2, "transfer", 0.86, 0.79)];
  const alone = stageReading(single, "transfer-DA");
  assert.match(
    alone,
    /\(round 1\): the validation blend reached 84\.0%.*Its training loss: 0\.950\./,
  );
  assert.match(
    stageReading(single, "transfer"),
    /from 84\.0% \(the round before\) to 86\.0%.*from 0\.950 to 0\.790/,
  );
  const losses = lossReading([
    row(1, "a", 0.5, 2, 1.5),
    row(2, "a", 0.6, 1, 0.9),
    row(3, "b", 0.6, 0.8, 1.1),
  ]);
  assert.match(
    losses,
    /from 2\.000 to 0\.800.*from 1\.500 to 1\.100, lowest at round 2 \(a, 0\.900\)/,
  );
});

Deno.test("readings: the blend against each head alone, and how flat its top is", () => {
  const curve = [0, 0.25, 0.5, 0.75, 1].map((alpha, i) => ({
    alpha,
    accuracy: [0.6, 0.7, 0.8, 0.798, 0.75][i],
  }));
  const text = blendReading(curve);
  assert.match(
    text,
    /Alpha 0\.50 gives 80\.0%: \+5\.0 points against the main head alone \(alpha 1, 75\.0%\) and \+20\.0 against the aux head alone/,
  );
  assert.match(text, /from 0\.50 to 0\.75.*the choice matters/);
  const wide = blendReading(curve.map((p) => ({ ...p, accuracy: p.alpha === 1 ? 0.7 : 0.8 })));
  assert.match(wide, /Alpha 0\.00 .* from 0\.00 to 0\.75 .* the top is flat/);
  const mainAlone = blendReading(curve.map((p) => ({ ...p, accuracy: p.alpha > 0.6 ? 0.8 : 0.7 })));
  assert.match(mainAlone, /Alpha 0\.75 .* the main head alone does as well/);
});

Deno.test("readings: per breed, pseudo-label confidence, before and after, the budget bench", () => {
  const breeds = perBreedReading(["a", "b", "c"], [[9, 1, 0], [4, 5, 1], [0, 0, 10]]);
  assert.match(
    breeds,
    /Best: c \(100\.0%\); worst: b \(50\.0%\)\. The commonest mistake is b taken for a: 4 of the 6 wrong/,
  );
  const bins = [
    { bin: "0–0.5", photos: 10, wrong: 5 },
    { bin: "0.5–0.9", photos: 10, wrong: 2 },
    { bin: "0.9–1", photos: 80, wrong: 1 },
  ];
  const sure = confidenceReading(bins, [0, 0.5, 0.9, 1]);
  assert.match(
    sure,
    /8 of 100 pseudo-labels are wrong \(8\.0%\)\. The 80 at 0\.9 or above are wrong 1\.3%.*the 20 below 0\.9 35\.0%/,
  );
  assert.throws(() => confidenceReading(bins, [0, 0.5, 0.9, 1], 0.7), /not an inner edge/);
  const change = changeReading(["a", "b", "c"], [0.5, 0.6, 0.7], [0.6, 0.5, 0.7]);
  assert.match(
    change,
    /1 breeds gained, 1 lost, 1 stayed\. Largest gain: a \(\+10\.0 points\)\. Largest loss: b \(−10\.0 points\)/,
  );
  const bench = budgetReading({
    ours: [{ what: "3 min", minutes: 3, accuracy: 0.86 }, {
      what: "10 min",
      minutes: 9.9,
      accuracy: 0.87,
    }],
    torch: [{ what: "3 min", minutes: 3, accuracy: 0.845 }, {
      what: "10 min",
      minutes: 10,
      accuracy: 0.86,
    }],
    machine: "m",
    load: "l",
    date: "d",
    command: "c",
  });
  assert.match(
    bench,
    /3 min: 86\.0% against 84\.5% \(\+1\.5\); 10 min: 87\.0% against 86\.0% \(\+1\.0\)\. Ours went from 86\.0% at 3\.0 min to 87\.0% at 9\.9 min \(\+1\.0 points\)/,
  );
  // A reference that predicts with flip too: its accuracy without it, and ours against that.
  const flipped = budgetReading({
    ours: [{ what: "3 min", minutes: 3, accuracy: 0.86 }],
    torch: [{ what: "3 min", minutes: 3, accuracy: 0.85, plain: 0.84 }],
    machine: "m",
    load: "l",
    date: "d",
    command: "c",
  });
  assert.match(
    flipped,
    /^3 min: 86\.0% against 85\.0% \(\+1\.0; 84\.0% without its flip, \+2\.0\)\./,
  );
  assert.match(flipped, /One seed per point: differences under about two points are noise\.$/);
  // Sittings of two seeds averaged: the sentence says so, and what noise is at that size.
  const twoSeeds = budgetReading({
    ours: [{ what: "3 min", minutes: 3, accuracy: 0.86 }],
    torch: [{ what: "3 min", minutes: 3, accuracy: 0.85 }],
    machine: "m",
    load: "l",
    date: "d",
    command: "c",
    seeds: [0, 1],
  });
  assert.match(
    twoSeeds,
    /Each point is the mean of 2 seeds \(0, 1\): differences under about 1\.4 points are noise\.$/,
  );
});
