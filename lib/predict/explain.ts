/**
 * `predict --explain DIR`: for each photo, its Grad-CAM heatmap (gradcam.ts) for the top breed
 * under each head, laid over the photo as the model saw it (center square, at the model's size),
 * written as PNGs.
 */
import { basename, extname, join } from "node:path";
import sharp from "sharp";
import { cacheImages } from "../data/cache.ts";
import { featureMapModel, type Head, heatmapOverlays } from "./gradcam.ts";
import type { FinalModel } from "./predict.ts";

export interface Explained {
  path: string;
  /** The overlays written, one per head, and the breed each explains. */
  files: { head: Head; file: string; label: string }[];
}

/** Writes `<n>-<photo name>-<head>.png` into `out` for every readable photo of `paths` (the
 * number keeps two photos of one name apart); unreadable ones are left out (predict names them). */
export async function explainFiles(
  run: FinalModel,
  paths: readonly string[],
  out: string,
  { cacheDir }: { cacheDir?: string } = {},
): Promise<Explained[]> {
  await Deno.mkdir(out, { recursive: true });
  const size = run.config.preset.backbone.size;
  const items = paths.map((path, i) => ({ id: `photo${i}`, path }));
  const cache = await cacheImages(items, { size, dir: cacheDir });
  const features = featureMapModel(run.model);
  const explained: Explained[] = [];
  try {
    for (const [i, item] of items.entries()) {
      if (!cache.has(item.id)) continue;
      const files = [];
      for (const head of ["main", "aux"] as const) {
        const { maps: [map], images: [image] } = await heatmapOverlays(
          run.model,
          cache,
          [item.id],
          { head, features },
        );
        const name = basename(item.path, extname(item.path));
        const file = join(out, `${i + 1}-${name}-${head}.png`);
        await sharp(image.data, { raw: { width: size, height: size, channels: 3 } }).png()
          .toFile(file);
        files.push({ head, file, label: run.labels.toLabel(map.classIndex) });
      }
      explained.push({ path: item.path, files });
    }
  } finally {
    features.dispose();
    cache.close();
  }
  return explained;
}
