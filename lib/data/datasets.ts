/**
 * Named datasets a user without local data can start from: downloaded once into the cache
 * (checksum-pinned on first download), unpacked next to it, and resolved to the folder the
 * readers take. `--data imagewoof` in the CLIs.
 */
import { join } from "node:path";
import { x as untar } from "tar";
import { downloadCached, type DownloadOptions } from "../download.ts";
import { fromRoot } from "../paths.ts";

export interface DatasetSource {
  url: string;
  /** Folder inside the archive that holds the ImageFolder (or competition) layout. */
  root: string;
  description: string;
}

export const DATASETS: Readonly<Record<string, DatasetSource>> = {
  imagewoof: {
    url: "https://s3.amazonaws.com/fast-ai-imageclas/imagewoof2-320.tgz",
    root: "imagewoof2-320/train",
    description: "ImageWoof (fast.ai): 10 dog breeds, ~9k training photos, 320 px",
  },
};

/** A local folder as is; a dataset name: downloaded and unpacked (once), its folder returned. */
export async function resolveDataset(
  data: string,
  { cacheDir = fromRoot("data", "datasets"), url, ...download }: DownloadOptions & {
    cacheDir?: string;
    url?: string;
  } = {},
): Promise<string> {
  const source = DATASETS[data];
  if (!source) return data;
  const target = join(cacheDir, data);
  const done = join(target, ".unpacked");
  if (!(await Deno.stat(done).catch(() => undefined))) {
    const archive = await downloadCached(url ?? source.url, {
      cacheDir: join(cacheDir, "archives"),
      instead: `without network, fetch it elsewhere, unpack it, and pass its folder: ` +
        `--data PATH/${source.root}`,
      ...download,
    });
    await Deno.remove(target, { recursive: true }).catch(() => {});
    await Deno.mkdir(target, { recursive: true });
    await untar({ file: archive, cwd: target });
    await Deno.writeTextFile(done, `${new Date().toISOString()}\n`);
  }
  return join(target, source.root);
}
