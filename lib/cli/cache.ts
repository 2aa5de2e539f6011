/**
 * `deno task cache`: what the decoded-photo cache holds (its packs, their size and last use,
 * which a process reads now), and the two ways to shrink it: `--prune` to its cap, `--clear` of
 * everything no process reads. Nothing here loses work: a pack is made again from the photos.
 */
import {
  cacheLimitBytes,
  DEFAULT_CACHE_GB,
  formatBytes,
  listPacks,
  packInUse,
  prunePacks,
} from "../data/cache_packs.ts";
import { UsageError } from "../errors.ts";
import { cacheDir } from "../paths.ts";
import { parseCliArgs } from "./run_args.ts";
import { runMain, say } from "./main.ts";

const HELP = `Usage: deno task cache [--prune | --clear] [--cache-dir DIR]

Decoded photos are kept in packs of raw frames, found again by every run, notebook and predict
over the same files. The cache keeps itself under its cap (DOGS_CACHE_GB, default
${DEFAULT_CACHE_GB} GB) by removing the least recently used packs that no process reads.

  (no option)      list the packs: frame size, photos, size, last use, in use now
  --prune          remove least recently used packs until the cache is under its cap
  --clear          remove every pack no process reads now (they are made again when needed)
  --cache-dir DIR  the cache folder (default data/cache, or $DOGS_CACHE)`;

await runMain(async () => {
  const values = parseCliArgs(HELP, {
    prune: { type: "boolean" },
    clear: { type: "boolean" },
    "cache-dir": { type: "string" },
  });
  if (values.prune && values.clear) throw new UsageError("--prune and --clear: choose one");
  const dir = values["cache-dir"] ?? cacheDir();
  const limit = cacheLimitBytes();
  if (values.prune || values.clear) {
    const result = await prunePacks(dir, values.clear ? 0 : limit);
    const freed = result.evicted.reduce((sum, p) => sum + p.bytes, 0);
    say(
      `${dir}: removed ${result.evicted.length} pack(s), ${formatBytes(freed)}; ` +
        `${formatBytes(result.bytes)} left` +
        (result.inUse.length ? ` (${result.inUse.length} in use by a running process)` : ""),
    );
    return;
  }
  const packs = await listPacks(dir);
  const total = packs.reduce((sum, p) => sum + p.bytes, 0);
  say(`${dir}: ${packs.length} pack(s), ${formatBytes(total)} of ${formatBytes(limit)}`);
  for (const pack of packs) {
    const c = pack.contents;
    const what = c
      ? `${c.size}px ${c.interpolation}, ${c.keys.filter((k) => k !== null).length} photos`
      : "older version or incomplete: removed first";
    const used = pack.lastUsed.toISOString().slice(0, 16).replace("T", " ");
    const busy = (await packInUse(pack)) ? ", in use" : "";
    say(`  ${pack.name}  ${formatBytes(pack.bytes)}  ${what}; last used ${used}${busy}`);
  }
});
