/**
 * `deno task bench:tta --runs DIR...`: do more test views pay than the `cpu` preset's two (the
 * photo and its mirror)? Each job's final model (as its submissions) predicts its carved-off test
 * part once per view: the photo, its mirror, and centre zooms as the training policy zooms in (the
 * photo resized 1.1x or 1.2x, nearest, and its centre cut back), each mirrored too. Each view is
 * blended at the job's alpha; a view set sums the blends (the blend is linear, so this is the
 * flip's average of probabilities, blended).
 */
import { join } from "node:path";
import { initBackend } from "../lib/engine/tf.ts";
import { loadFinalModel, predictPhotos } from "../lib/predict/predict.ts";
import { cacheImages } from "../lib/data/cache.ts";
import type { ImageCache } from "../lib/data/cache.ts";
import { flipHorizontal, type RgbImage, zoom } from "../lib/augment/ops.ts";
import { accuracy, blend } from "../lib/model/blend.ts";
import { readAnswers } from "../lib/predict/submission.ts";
import { jobFiles, runFiles } from "../lib/layout.ts";
import { benchArgs } from "./common.ts";

const HELP = `Usage: deno task bench:tta --runs DIR... [options]

  --runs DIR...    reproduce job folders that carved off a test part (e.g. the bench:accuracy
                   jobs of two seeds)
  --cache-dir DIR  decoded-photo cache (default data/cache)

Prints each job's test accuracy (the blend at its alpha) per view set, and the mean over jobs.`;

const { values, positionals } = benchArgs(HELP, {
  runs: { type: "string", multiple: true },
  "cache-dir": { type: "string" },
}, { positionals: true });
const dirs = [...(values.runs ?? []), ...positionals];
if (!dirs.length) {
  console.error("error: --runs DIR is required (see --help)");
  Deno.exit(2);
}

/** The centre of the photo resized `ratio` times larger: the policy's zoom-in, centred. */
function centreZoom(img: RgbImage, ratio: number): RgbImage {
  const offset = (Math.floor(img.width * ratio) - img.width) >> 1;
  return zoom(img, ratio, offset, offset, img); // ratio > 1 only crops: no background shows
}

const VIEWS: Record<string, (img: RgbImage) => RgbImage> = {
  photo: (img) => img,
  mirror: flipHorizontal,
  "zoom 1.1": (img) => centreZoom(img, 1.1),
  "zoom 1.1 mirror": (img) => flipHorizontal(centreZoom(img, 1.1)),
  "zoom 1.2": (img) => centreZoom(img, 1.2),
  "zoom 1.2 mirror": (img) => flipHorizontal(centreZoom(img, 1.2)),
};
const SETS: Record<string, string[]> = {
  "one view": ["photo"],
  "+ mirror (the cpu preset's)": ["photo", "mirror"],
  "+ zoom 1.1, both mirrored": ["photo", "mirror", "zoom 1.1", "zoom 1.1 mirror"],
  "+ zoom 1.2, both mirrored": ["photo", "mirror", "zoom 1.2", "zoom 1.2 mirror"],
  "all six": Object.keys(VIEWS),
};

/** The cache as predictPhotos reads it, each photo through `view` first. */
function viewed(cache: ImageCache, view: (img: RgbImage) => RgbImage): ImageCache {
  return {
    frameBytes: cache.frameBytes,
    size: cache.size,
    read(id: string, into?: Uint8Array): RgbImage {
      const img = view(cache.read(id));
      if (!into) return img;
      into.set(img.data);
      return { ...img, data: into };
    },
  } as ImageCache;
}

await initBackend({ quiet: true });
const scores: Record<string, number[]> = Object.fromEntries(Object.keys(SETS).map((s) => [s, []]));
for (const dir of dirs) {
  const run = await loadFinalModel(dir);
  const answersFile = runFiles(jobFiles(dir).train).testAnswers;
  const answers = await readAnswers(answersFile);
  const ids = [...answers.keys()];
  const cache = await cacheImages(ids.map((id) => ({ id, path: join(run.config.data, id) })), {
    size: run.model.backbone.size,
    dir: values["cache-dir"],
  });
  const probs: Record<string, Float32Array> = {};
  try {
    for (const [name, view] of Object.entries(VIEWS)) {
      const p = await predictPhotos(run.model, viewed(cache, view), ids, { flip: false });
      probs[name] = blend(p.main, p.aux, run.alpha);
    }
  } finally {
    cache.close();
  }
  const labels = Int32Array.from(ids, (id) => run.labels.toIndex(answers.get(id)!, answersFile));
  for (const [set, views] of Object.entries(SETS)) {
    const summed = new Float32Array(probs.photo.length);
    for (const v of views) probs[v].forEach((p, i) => summed[i] += p);
    scores[set].push(accuracy(summed, labels, run.model.classes));
  }
  console.error(
    `${dir}: ${ids.length} test photos predicted in ${Object.keys(VIEWS).length} views`,
  );
}

const pct = (x: number) => (100 * x).toFixed(2);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`| views | ${dirs.map((_, i) => `job ${i + 1}`).join(" | ")} | mean |`);
console.log(`| --- | ${dirs.map(() => "---").join(" | ")} | --- |`);
for (const [set, list] of Object.entries(scores)) {
  console.log(`| ${set} | ${list.map(pct).join(" | ")} | ${pct(mean(list))} |`);
}
