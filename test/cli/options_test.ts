/**
 * The options that change what a run does, each tried from the command line with what it must
 * change: `--no-transfer`, `--test-fraction`, `--threshold`, `--no-flip`, the loss weights and
 * `--no-glu`, `score`; and a negative `--seed` parsed as a seed.
 */
import assert from "node:assert/strict";
import { percent } from "@/progress.ts";
import { join } from "node:path";
import { readTable } from "@/data/table.ts";
import { flipOption, parseRunArgs, runInputs } from "@/cli/run_args.ts";
import { carvedCount } from "@/data/split.ts";
import {
  cli,
  decode,
  makeColourDataset,
  SHARED_IMAGEWOOF,
  SHARED_MOBILENET,
  tempDir,
} from "../fixtures.ts";

function run(script: string, data: string, out: string, cache: string, ...extra: string[]) {
  return cli(
    script,
    "--small",
    "--data",
    data,
    "--out",
    out,
    "--cache-dir",
    cache,
    "--weights",
    SHARED_MOBILENET,
    ...extra,
  ).output();
}

Deno.test("options: --no-transfer, --test-fraction, --threshold, --no-flip and score do what they say", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data); // 3 classes of 24 photos

  // A fifth carved off as the test part, and no transfer.
  const plain = join(dir, "plain");
  const first = await run(
    "reproduce",
    data,
    plain,
    cache,
    "--no-transfer",
    "--test-fraction",
    "0.2",
  );
  const stdout = decode(first.stdout);
  assert.equal(first.code, 0, decode(first.stderr).slice(-2000));
  const answers = await readTable(join(plain, "train", "test_answers.tsv"));
  assert.equal(answers.length, 3 * carvedCount(24, 0.2), "4 of each class's 24");
  assert.equal(await Deno.stat(join(plain, "transfer")).catch(() => undefined), undefined);
  assert.doesNotMatch(stdout, /after transfer/);
  const summary = JSON.parse(await Deno.readTextFile(join(plain, "summary.json")));
  assert.equal(summary.after, undefined);
  assert.equal(summary.pseudoLabels, 0);
  // Its flip is the preset's (cpu: on); run again without the options, it keeps what it was
  // made with (no transfer) and redoes nothing.
  assert.deepEqual(summary.settings, { flip: true, threshold: 0, transfer: false });
  const again = await run("reproduce", data, plain, cache, "--test-fraction", "0.2");
  assert.equal(again.code, 0, decode(again.stderr).slice(-2000));
  assert.match(decode(again.stdout), /finished earlier, nothing redone/);
  assert.equal(await Deno.stat(join(plain, "transfer")).catch(() => undefined), undefined);

  // score: the same accuracy the summary reports for the blend.
  const scored = await cli(
    "score",
    "--submission",
    summary.before.blend,
    "--answers",
    join(plain, "train", "test_answers.tsv"),
  ).output();
  assert.equal(scored.code, 0, decode(scored.stderr));
  const line = decode(scored.stdout).split("\n")[0];
  const correct = Math.round(summary.scores.before.blend * answers.length);
  assert.equal(
    line,
    `accuracy ${percent(summary.scores.before.blend)} (${correct}/${answers.length})`,
  );
  assert.match(decode(scored.stdout), /^class0 +class0 +[\d.]+ +4$/m, "a row per class");

  // A threshold no prediction reaches: no pseudo-label joins the transfer.
  const strict = join(dir, "strict");
  const second = await run("reproduce", data, strict, cache, "--threshold", "1", "--no-flip");
  assert.equal(second.code, 0, decode(second.stderr).slice(-2000));
  assert.match(decode(second.stdout), /after transfer: .*\(0 pseudo-labels\)/);
  const transfer = JSON.parse(await Deno.readTextFile(join(strict, "transfer", "run.json")));
  const none = JSON.parse(await Deno.readTextFile(join(strict, "reproduce.json")));
  assert.equal(none.threshold, 1);
  assert.equal(none.flip, false);
  assert.match(transfer.identity.settings.pseudoLabels, /^[0-9a-f]{16}$/);
  // predict follows the job, not the preset: unmirrored here. (That it mirrors where the job did
  // is use_model_test's: predict gives the submissions' numbers.)
  const [photo] = await readTable(join(strict, "train", "split.tsv"));
  const predicted = await cli("predict", "--run", strict, "--cache-dir", cache, photo.path)
    .output();
  assert.equal(predicted.code, 0, decode(predicted.stderr));
  assert.match(decode(predicted.stderr), /^model: the transfer's last checkpoint/m);
  assert.doesNotMatch(decode(predicted.stderr), /mirror/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("options: the loss weights and --no-glu change the model and the loss", async () => {
  const dir = await tempDir();
  const data = join(dir, "data");
  const cache = join(dir, "cache");
  await makeColourDataset(data);
  const out = join(dir, "ablated");
  const trained = await run(
    "train",
    data,
    out,
    cache,
    "--center-weight",
    "0",
    "--aux-weight",
    "0",
    "--no-glu",
  );
  assert.equal(trained.code, 0, decode(trained.stderr).slice(-2000));
  const config = JSON.parse(await Deno.readTextFile(join(out, "run.json")));
  assert.deepEqual(config.lossWeights, { center: 0, aux: 0 });
  assert.equal(config.glu, false);
  // With both weights 0 the training loss is the main head's alone, round after round.
  const history = JSON.parse(await Deno.readTextFile(join(out, "metrics.json")));
  assert.equal(history.length, 3);
  for (const row of history) {
    assert.ok(Math.abs(row.metrics.loss.total - row.metrics.loss.main) < 1e-6);
    assert.ok(row.metrics.loss.aux > 0, "the auxiliary term is still measured");
  }
  // No GLU: its two dense layers are gone from the checkpoint (4 fewer weights: 2 kernels, 2
  // biases), and the centers live on the pooled features (1280 wide) instead of the GLU's 64.
  const checkpoints = (await Array.fromAsync(Deno.readDir(join(out, "checkpoints"))))
    .map((e) => e.name).filter((n) => n.startsWith("round")).sort();
  const specs = JSON.parse(
    await Deno.readTextFile(join(out, "checkpoints", checkpoints.at(-1)!, "specs.json")),
  );
  const centers = specs.specs[specs.modelCount - 1];
  assert.deepEqual(centers.shape, [3, 1280]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("options: a negative --seed is a seed, not an option", async () => {
  for (const seed of ["-1", "-7"]) {
    const values = parseRunArgs("help", {}, ["--seed", seed, "--data", SHARED_IMAGEWOOF]);
    assert.equal((await runInputs(values)).seed, Number(seed));
  }
});

Deno.test("--without and --sampler: the ablations' settings, a bad value one line", async () => {
  const inputs = await runInputs({ without: "splice,mask", sampler: "plain" });
  assert.deepEqual(inputs.without, { splice: false, mask: false });
  assert.equal(inputs.sampler, "plain");
  const seed = await runInputs({ sampler: "seed" });
  assert.equal(seed.sampler, undefined, "the seed's sampler is the default: no setting");
  assert.equal(seed.without, undefined);
  await assert.rejects(
    runInputs({ without: "splice,blur" }),
    /--without 'splice,blur': expected some of splice, mask, rotate, zoom, flip/,
  );
  await assert.rejects(
    runInputs({ sampler: "random" }),
    /--sampler 'random': expected seed or plain/,
  );
});

Deno.test("options: --flip and --no-flip, or neither (the run's or the preset's choice)", () => {
  assert.equal(flipOption({ flip: true }), true);
  assert.equal(flipOption({ "no-flip": true }), false);
  assert.equal(flipOption({}), undefined);
  assert.throws(() => flipOption({ flip: true, "no-flip": true }), /--flip and --no-flip: choose/);
});
