/**
 * Image grids for notebooks: photos (or augmented samples) as JPEG tiles with captions, in an
 * HTML grid; `composeGrid` + `encodePng` make the same grid as one PNG file for reports.
 */
import { encodeBase64 } from "./base64.ts";
import { encodeJpeg, type RgbImage } from "../data/image.ts";
import { blank, resize } from "../augment/ops.ts";
import { type Batch, batchImages } from "../augment/batch.ts";
import { escapeHtml, show } from "../display.ts";

export interface GridOptions {
  columns?: number;
  captions?: readonly string[];
  /** Tile side in pixels (photos are resized nearest-neighbour to it). */
  tile?: number;
  title?: string;
}

/** One PNG of the photos in rows of `columns`, 4 px white gaps. */
export function composeGrid(images: readonly RgbImage[], columns: number, tile: number): RgbImage {
  const gap = 4;
  const rows = Math.ceil(images.length / columns);
  const width = columns * tile + (columns - 1) * gap;
  const height = rows * tile + (rows - 1) * gap;
  const out = blank(width, height);
  out.data.fill(255);
  images.forEach((img, i) => {
    const t = img.width === tile && img.height === tile ? img : resize(img, tile, tile);
    const left = (i % columns) * (tile + gap);
    const top = Math.floor(i / columns) * (tile + gap);
    for (let y = 0; y < tile; y++) {
      out.data.set(
        t.data.subarray(y * tile * 3, (y + 1) * tile * 3),
        ((top + y) * width + left) * 3,
      );
    }
  });
  return out;
}

/**
 * Shows a captioned grid in a notebook (await it).
 *
 * @example
 * ```ts
 * await showImages([await loadImage(path, { size: 224 })], { captions: ["beagle"] });
 * ```
 */
export async function showImages(
  images: readonly RgbImage[],
  options: GridOptions = {},
): Promise<void> {
  const { columns = Math.min(images.length, 6), captions = [], tile = 160, title } = options;
  // Tiles are resized and encoded as JPEG: a notebook output has to stay well under the ~4 MB the
  // kernel delivers in one message, and a rendered notebook under ~1 MB in all.
  const small = images.map((
    img,
  ) => (img.width === tile && img.height === tile ? img : resize(img, tile, tile)));
  const tiles = await Promise.all(small.map((img) => encodeJpeg(img)));
  const cells = tiles.map((jpeg, i) =>
    `<figure style="margin:2px;text-align:center"><img src="data:image/jpeg;base64,${
      encodeBase64(jpeg)
    }" ` +
    `width="${tile}" height="${tile}" style="image-rendering:pixelated;border:1px solid #ccc"/>` +
    `<figcaption style="font-size:11px;width:${tile}px;overflow-wrap:anywhere;line-height:1.25">${
      escapeHtml(captions[i] ?? "")
    }</figcaption></figure>`
  );
  const html =
    (title ? `<div style="font-weight:bold;margin:4px 0">${escapeHtml(title)}</div>` : "") +
    `<div style="display:grid;grid-template-columns:repeat(${columns},${tile + 4}px);gap:2px">` +
    cells.join("") + `</div>`;
  await show({
    "text/html": html,
    "text/plain": `[${images.length} images${title ? `: ${title}` : ""}]`,
  });
}

/** Shows a training batch as the network gets it (scaling undone), captioned by class. */
export async function showBatch(
  batch: Batch,
  className: (label: number, index: number) => string,
  title: string,
): Promise<void> {
  await showImages(batchImages(batch), {
    columns: 8,
    tile: 96,
    title,
    captions: Array.from(batch.labels, className),
  });
}
