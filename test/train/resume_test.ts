/**
 * Kill a real training run with SIGKILL after its first checkpoint, run the same command again,
 * and compare with an uninterrupted run: same metrics, same final weights.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeColourDataset, smallRun, tempDir } from "../fixtures.ts";

function command(data: string, out: string, cache: string) {
  return smallRun("train", data, out, cache);
}

async function roundsDone(out: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(join(out, "checkpoints"))))
      .filter((e) => /^round\d+-/.test(e.name) && !e.name.includes(".tmp-"))
      .map((e) => e.name);
  } catch {
    return [];
  }
}

const stripTimes = (history: { seconds: number }[]) =>
  history.map(({ seconds: _, ...rest }) => rest);

Deno.test("resume: a run killed with SIGKILL continues to the same result as an uninterrupted one", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);

  const whole = await command(data, join(dir, "whole"), cache).output();
  assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr).slice(-2000));

  const killedOut = join(dir, "killed");
  const child = command(data, killedOut, cache).spawn();
  const deadline = Date.now() + 120_000;
  while ((await roundsDone(killedOut)).length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  const status = await child.output();
  assert.equal(status.signal, "SIGKILL", "the run was killed, not finished");
  assert.ok((await roundsDone(killedOut)).length < 3, "killed before the last round");

  const resumed = await command(data, killedOut, cache).output();
  const stdout = new TextDecoder().decode(resumed.stdout);
  assert.equal(resumed.code, 0, new TextDecoder().decode(resumed.stderr).slice(-2000));
  assert.match(stdout, /resumed after round \d/);

  const metrics = async (out: string) =>
    stripTimes(JSON.parse(await Deno.readTextFile(join(out, "metrics.json"))));
  assert.deepEqual(await metrics(killedOut), await metrics(join(dir, "whole")));
  const final = async (out: string) => {
    const names = (await roundsDone(out)).sort();
    return {
      name: names.at(-1)!,
      weights: await Deno.readFile(join(out, "checkpoints", names.at(-1)!, "weights.bin")),
    };
  };
  const [a, b] = [await final(join(dir, "whole")), await final(killedOut)];
  assert.equal(b.name, a.name);
  assert.ok(a.weights.length > 1_000_000);
  assert.deepEqual(b.weights, a.weights);
  await Deno.remove(dir, { recursive: true });
});
