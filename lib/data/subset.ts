/**
 * A smaller ImageFolder dataset made of links to another's photos: a few breeds and a few photos
 * of each, for trying the tools in seconds (notebook 06) without copying a byte. Idempotent: the
 * same call twice gives the same folder.
 */
import { join } from "node:path";
import { isImageName } from "./dataset.ts";
import { DataError } from "../errors.ts";

export async function linkSubset(
  source: string,
  target: string,
  { classes, perClass }: { classes: readonly string[]; perClass: number },
): Promise<string> {
  for (const label of classes) {
    const from = join(source, label);
    const names = (await Array.fromAsync(Deno.readDir(from)).catch(() => {
      throw new DataError(from, "no such class folder");
    })).filter((e) => !e.isDirectory && isImageName(e.name)).map((e) => e.name).sort()
      .slice(0, perClass);
    await Deno.mkdir(join(target, label), { recursive: true });
    for (const name of names) {
      const link = join(target, label, name);
      if (await Deno.lstat(link).then(() => true, () => false)) continue; // a link, even dangling
      await Deno.symlink(await Deno.realPath(join(from, name)), link);
    }
  }
  return target;
}
