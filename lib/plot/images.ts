/**
 * Image grids for notebooks: photos (or augmented samples) as PNG tiles with captions. The cell
 * gets an HTML table of PNGs (captions as text) plus the whole grid as one PNG for front ends
 * that do not render HTML.
 */
import { encodeBase64 } from "./base64.ts";
import { encodePng, type RgbImage } from "../data/image.ts";
import { blank, resize } from "../augment/ops.ts";
import { type Displayable, displayable } from "./display.ts";

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

/** A captioned grid to return as a notebook cell's value. */
export async function showImages(
  images: readonly RgbImage[],
  options: GridOptions = {},
): Promise<Displayable> {
  const { columns = Math.min(images.length, 6), captions = [], tile = 160, title } = options;
  const grid = await encodePng(composeGrid(images, columns, tile));
  const tiles = await Promise.all(images.map((img) => encodePng(img)));
  const escape = (s: string) =>
    s.replace(/[<&>]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]!);
  const cells = tiles.map((png, i) =>
    `<figure style="margin:2px;text-align:center"><img src="data:image/png;base64,${
      encodeBase64(png)
    }" ` +
    `width="${tile}" height="${tile}" style="image-rendering:pixelated"/>` +
    `<figcaption style="font-size:11px;max-width:${tile}px">${
      escape(captions[i] ?? "")
    }</figcaption></figure>`
  );
  const html = (title ? `<div style="font-weight:bold;margin:4px 0">${escape(title)}</div>` : "") +
    `<div style="display:grid;grid-template-columns:repeat(${columns},${tile + 4}px);gap:2px">` +
    cells.join("") + `</div>`;
  return displayable({
    "text/html": html,
    "image/png": encodeBase64(grid),
    "text/plain": `[${images.length} images${title ? `: ${title}` : ""}]`,
  });
}
