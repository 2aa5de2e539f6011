/**
 * The run-folder lock under a race: processes started at the same moment on one folder, many
 * times over, with and without a killed run's lock already there. Exactly one of them may win.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { deadPid, tempDir } from "../fixtures.ts";

const TAKE = new URL("../fixtures/take_lock.ts", import.meta.url).pathname;

/** `tries` folders, each raced by `contenders` processes that all start at one instant. */
async function race(tries: number, contenders: number, stale: boolean): Promise<string[][]> {
  const dir = await tempDir();
  const dead = await deadPid();
  const folders = Array.from({ length: tries }, (_, i) => join(dir, `run${i}`));
  for (const folder of folders) {
    await Deno.mkdir(folder);
    if (stale) {
      const holder = { pid: dead, host: Deno.hostname(), started: "earlier" };
      await Deno.writeTextFile(join(folder, ".lock"), JSON.stringify(holder));
    }
  }
  // Deno starts in ~0.5 s here; all of them wait for the same instant after that.
  const at = String(Date.now() + 2500);
  const children = folders.flatMap((folder) =>
    Array.from({ length: contenders }, () =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", TAKE, folder, at],
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn())
  );
  // Every answer first; only then may the winners let go (a late starter must meet a held lock).
  const answers = await Promise.all(children.map(async (child) => {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    return (value ?? "").trim();
  }));
  for (const child of children) {
    await child.stdin.close();
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
  const results = folders.map((_, i) => answers.slice(i * contenders, (i + 1) * contenders));
  for (const folder of folders) {
    const left = (await Array.fromAsync(Deno.readDir(folder))).map((e) => e.name);
    assert.deepEqual(left, [], `${folder}: the lock and its private files are gone`);
  }
  await Deno.remove(dir, { recursive: true });
  return results;
}

Deno.test("run lock: of processes started together on one folder, exactly one wins, every time", async () => {
  for (const stale of [false, true]) {
    for (let batch = 0; batch < 2; batch++) {
      for (const outcome of await race(6, 3, stale)) {
        assert.deepEqual(
          [...outcome].sort(),
          ["refused", "refused", "won"],
          `${stale ? "a killed run's lock present" : "no lock"}: ${outcome.join(", ")}`,
        );
      }
    }
  }
});
