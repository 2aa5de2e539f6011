/**
 * `deno task bench:tta --runs DIR...`: do more test views pay than the `cpu` preset's two (the
 * photo and its mirror)? Each job's final model (as its submissions) predicts its carved-off test
 * part once per view: the photo, its mirror, and centre zooms as the training policy zooms in (the
 * photo resized 1.1x or 1.2x, nearest, and its centre cut back), each mirrored too. View sets
 * average their probabilities, as the flip does, then blend at the job's alpha.
 */
import { join } from "node:path";
import { initBackend } from "../lib/engine/tf.ts";
import { loadFinalModel, predictPhotos } from "../lib/predict/predict.ts";
import { cacheImages } from "../lib/data/cache.ts";
import type { ImageCache } from "../lib/data/cache.ts";
import { crop, flipHorizontal, resize, type RgbImage } from "../lib/augment/ops.ts";
import { blend } from "../lib/model/blend.ts";
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
  const side = Math.floor(img.width * ratio);
  const offset = (side - img.width) >> 1;
  return crop(resize(img, side, side, "nearest"), offset, offset, img.width);
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
  const answers = await readAnswers(runFiles(jobFiles(dir).train).testAnswers);
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
  const k = run.model.classes;
  for (const [set, views] of Object.entries(SETS)) {
    let right = 0;
    ids.forEach((id, row) => {
      let best = 0, top = -1;
      for (let c = 0; c < k; c++) {
        const p = views.reduce((sum, v) => sum + probs[v][row * k + c], 0);
        if (p > top) [best, top] = [c, p];
      }
      if (run.labels.toLabel(best) === answers.get(id)) right++;
    });
    scores[set].push(right / ids.length);
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
