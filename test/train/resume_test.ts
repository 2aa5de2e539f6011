/**
 * Kill a real training run with SIGKILL between two rounds of one stage (after round 1 of the
 * quick preset's two, so the resumed run must reload the optimizer state mid-stage), run the
 * same command again, and compare with an uninterrupted run: same metrics, same final weights.
 * The killed run is first frozen with SIGSTOP the moment its first checkpoint appears, so where
 * it stopped is checked, not assumed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertSameValues,
  cli,
  makeColourDataset,
  SHARED_MOBILENET,
  tempDir,
} from "../fixtures.ts";

function command(data: string, out: string, cache: string) {
  const args = ["--preset", "quick", "--data", data, "--out", out, "--cache-dir", cache];
  return cli("train", ...args, "--weights", SHARED_MOBILENET);
}

async function checkpoints(out: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(join(out, "checkpoints"))))
      .filter((e) => /^round\d+-/.test(e.name) && !e.name.includes(".tmp-"))
      .map((e) => e.name).sort();
  } catch {
    return [];
  }
}

const stripTimes = (history: { seconds: number }[]) =>
  history.map(({ seconds: _, ...rest }) => rest);
const metrics = async (out: string) =>
  stripTimes(JSON.parse(await Deno.readTextFile(join(out, "metrics.json"))));

Deno.test("resume: a run killed mid-stage continues to the same result as an uninterrupted one", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);

  const whole = await command(data, join(dir, "whole"), cache).output();
  assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr).slice(-2000));
  assert.equal((await metrics(join(dir, "whole"))).length, 2, "the quick preset: 2 rounds");

  const killedOut = join(dir, "killed");
  const child = command(data, killedOut, cache).spawn();
  const deadline = Date.now() + 120_000;
  while ((await checkpoints(killedOut)).length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  child.kill("SIGSTOP");
  const done = await checkpoints(killedOut);
  child.kill("SIGKILL");
  assert.equal((await child.output()).signal, "SIGKILL", "the run was killed, not finished");
  assert.deepEqual(done.map((n) => n.slice(0, 7)), ["round01"], "stopped inside stage 1");
  assert.equal((await metrics(killedOut)).length, 1, "the killed run logged one round");

  const resumed = await command(data, killedOut, cache).output();
  const stdout = new TextDecoder().decode(resumed.stdout);
  const stderr = new TextDecoder().decode(resumed.stderr);
  assert.equal(resumed.code, 0, stderr.slice(-2000));
  assert.match(stderr, /resuming after round 1 \(/);
  assert.match(stdout, /trained 2 rounds in .* \(resumed after round 1\)/);

  assert.deepEqual(await metrics(killedOut), await metrics(join(dir, "whole")));
  const final = async (out: string) => {
    const last = (await checkpoints(out)).at(-1)!;
    return {
      name: last,
      weights: await Deno.readFile(join(out, "checkpoints", last, "weights.bin")),
    };
  };
  const [a, b] = [await final(join(dir, "whole")), await final(killedOut)];
  assert.equal(b.name, a.name);
  assert.ok(a.weights.length > 1_000_000);
  assertSameValues(b.weights, a.weights, "weights.bin");
  await Deno.remove(dir, { recursive: true });
});
