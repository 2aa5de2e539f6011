/**
 * Downloads (official Keras weight files, datasets) into a local cache, verified by checksum:
 * a file is fetched once, streamed to disk with a progress bar, checked, then renamed into place,
 * so an interrupted download never leaves a file that looks complete. Where no checksum is
 * published (Keras pins none for MobileNetV2), the SHA-256 of the first download is recorded
 * beside it and every later use is checked against it.
 *
 * A download that fails (no network, a refused connection, an HTTP error, a cut-off transfer, a
 * failed check) is a `DataError` naming the URL, the reason, and the caller's way round it (the
 * local `--data` or `--weights` path), shown as one line; nothing is left in the cache.
 */
import { createHash } from "node:crypto";
import { exists } from "./files.ts";
import { join } from "node:path";
import { progressBar } from "./progress.ts";
import { fromRoot } from "./paths.ts";
import { DataError } from "./errors.ts";

export interface DownloadOptions {
  /** File name in the cache (default: the URL's last path segment). */
  file?: string;
  cacheDir?: string;
  md5?: string;
  sha256?: string;
  /** Progress callback; default: a progress bar on stderr. `false` for silence. */
  onProgress?: ((done: number, total: number | undefined) => void) | false;
  /** What a user without network does instead, added to a failure's line. */
  instead?: string;
}

/** The cached file's path, downloading it first if it is missing or fails its checksum. */
export async function downloadCached(url: string, options: DownloadOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? fromRoot("data", "cache", "downloads");
  const file = options.file ??
    decodeURIComponent(new URL(url).pathname.split("/").pop() || "download");
  const path = join(cacheDir, file);
  const pinned = options.sha256 ??
    (await Deno.readTextFile(`${path}.sha256`).catch(() => undefined))?.trim();
  if (await exists(path)) {
    const problem = await verify(path, options.md5, pinned);
    if (!problem) return path;
    console.error(`${path}: ${problem}; downloading again`);
  }
  await Deno.mkdir(cacheDir, { recursive: true });
  const tmp = `${path}.part-${Deno.pid}`;
  const fail = (problem: string) =>
    new DataError(url, `${problem}${options.instead ? `; ${options.instead}` : ""}`);
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw fail(`cannot download (${reasonOf(error)})`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw fail(`cannot download (HTTP ${response.status} ${response.statusText})`);
  }
  const total = Number(response.headers.get("content-length")) || undefined;
  const report = options.onProgress === false
    ? undefined
    : options.onProgress ?? barReporter(file, total);
  const out = await Deno.open(tmp, { write: true, create: true, truncate: true });
  let done = 0;
  try {
    for await (const chunk of response.body) {
      await out.write(chunk);
      done += chunk.length;
      report?.(done, total);
    }
  } catch (error) {
    out.close();
    await Deno.remove(tmp).catch(() => {});
    throw fail(`the download broke off after ${done} bytes (${reasonOf(error)})`);
  }
  out.close();
  if (total !== undefined && done !== total) {
    await Deno.remove(tmp);
    throw fail(`the download ended early: ${done} of ${total} bytes`);
  }
  const problem = await verify(tmp, options.md5, options.sha256);
  if (problem) {
    await Deno.remove(tmp);
    throw fail(`the download failed its check: ${problem}`);
  }
  await Deno.rename(tmp, path);
  if (!options.sha256 && !options.md5) {
    await Deno.writeTextFile(`${path}.sha256`, `${await digest(path, "sha256")}\n`);
  }
  return path;
}

/** A network error's own words, without the URL it repeats. */
function reasonOf(error: unknown): string {
  // Deno says "fetch failed" and puts the network's words in the cause.
  const e = error as Error & { cause?: unknown };
  const message = (e?.cause instanceof Error ? e.cause.message : e?.message) ?? String(error);
  return message.replace(/error sending request for url \([^)]*\): /, "");
}

async function verify(path: string, md5?: string, sha256?: string): Promise<string | undefined> {
  for (const [algorithm, expected] of [["md5", md5], ["sha256", sha256]] as const) {
    if (!expected) continue;
    const actual = await digest(path, algorithm);
    if (actual !== expected.toLowerCase()) return `${algorithm} is ${actual}, expected ${expected}`;
  }
  return undefined;
}

export async function digest(path: string, algorithm: "md5" | "sha256"): Promise<string> {
  const hash = createHash(algorithm);
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

function barReporter(label: string, total: number | undefined) {
  if (total === undefined) return undefined;
  const bar = progressBar(`download ${label}`, Math.ceil(total / 1e6), "MB");
  return (done: number) => {
    bar.update(Math.floor(done / 1e6));
    if (done >= total) bar.done();
  };
}
