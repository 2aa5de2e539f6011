/** Small photo fixtures written by the tests themselves, including every kind of bad input. */
import sharp from "sharp";
import { join } from "node:path";

/** A w x h JPEG of one colour (or a left/right two-colour split, to see crops and rotations). */
export async function solidJpeg(
  w: number,
  h: number,
  rgb: [number, number, number],
  right?: [number, number, number],
): Promise<Uint8Array> {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const c = right && x >= w / 2 ? right : rgb;
      data.set(c, (y * w + x) * 3);
    }
  }
  const out = await sharp(data, { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 100 }).toBuffer();
  return new Uint8Array(out);
}

export const SHARED_IMAGEWOOF = "../shared/data/imagewoof/train";
export const SHARED_MOBILENET = "../shared/weights/mobilenet_v2_0.35_224";

/** A fresh temporary directory removed when the returned disposer runs. */
export async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "dogs-test-" });
}

/** ImageFolder layout: classes with the given counts of good JPEGs. */
export async function makeImageFolder(root: string, counts: Record<string, number>): Promise<void> {
  let shade = 10;
  for (const [label, n] of Object.entries(counts)) {
    await Deno.mkdir(join(root, label), { recursive: true });
    for (let i = 0; i < n; i++) {
      shade = (shade + 37) % 250;
      await Deno.writeFile(
        join(root, label, `${label}_${i}.jpg`),
        await solidJpeg(12, 10, [shade, 0, 0]),
      );
    }
  }
}

/** Three classes of 24 noisy single-colour photos: learnable, tiny, fast to train on. */
export async function makeColourDataset(root: string): Promise<void> {
  const colours = [[200, 40, 40], [40, 200, 40], [40, 40, 200]];
  for (const [c, rgb] of colours.entries()) {
    await Deno.mkdir(join(root, `class${c}`), { recursive: true });
    for (let i = 0; i < 24; i++) {
      const data = new Uint8Array(48 * 48 * 3).map((_, k) =>
        Math.max(0, Math.min(255, rgb[k % 3] + ((k * 7919 + i * 104729) % 61) - 30))
      );
      await sharp(data, { raw: { width: 48, height: 48, channels: 3 } }).jpeg()
        .toFile(join(root, `class${c}`, `p${c}_${i}.jpg`));
    }
  }
}

/** A CLI run (`lib/cli/<script>.ts --small`) on a dataset with the shared weights, output piped;
 * `extra` options follow. */
export function smallRun(
  script: string,
  data: string,
  out: string,
  cache: string,
  ...extra: string[]
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `lib/cli/${script}.ts`,
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
    ],
    stdout: "piped",
    stderr: "piped",
  });
}

/**
 * The Baidu competition layout with numeric type ids: `train.txt` (`image_id label` lines),
 * `train/<id>.jpg`, and `test/<id>.jpg` unless `test` is 0. Colours as in makeColourDataset.
 */
export async function makeCompetitionDataset(
  root: string,
  options: { labels?: string[]; perClass?: number; test?: number } = {},
): Promise<void> {
  const { labels = ["2", "17", "133"], perClass = 16, test = 7 } = options;
  const colours = [[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]];
  const photo = (c: number, i: number, path: string) => {
    const rgb = colours[c % colours.length];
    const data = new Uint8Array(48 * 48 * 3).map((_, k) =>
      Math.max(0, Math.min(255, rgb[k % 3] + ((k * 7919 + i * 104729) % 61) - 30))
    );
    return sharp(data, { raw: { width: 48, height: 48, channels: 3 } }).jpeg().toFile(path);
  };
  await Deno.mkdir(join(root, "train"), { recursive: true });
  const lines: string[] = [];
  for (const [c, label] of labels.entries()) {
    for (let i = 0; i < perClass; i++) {
      const id = `t${label}_${i}`;
      await photo(c, i, join(root, "train", `${id}.jpg`));
      lines.push(`${id}.jpg ${label} extra-column`);
    }
  }
  await Deno.writeTextFile(join(root, "train.txt"), lines.join("\n") + "\n");
  if (test > 0) {
    await Deno.mkdir(join(root, "test"), { recursive: true });
    for (let i = 0; i < test; i++) {
      await photo(i % labels.length, 1000 + i, join(root, "test", `q${i}.jpg`));
    }
  }
}

/** A command's piped output as text. */
export const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A CLI command (`lib/cli/<script>.ts ...args`), output piped. */
export function cli(script: string, ...args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `lib/cli/${script}.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

/** The pid of a process that has ended (what a killed run leaves in its lock and temp names). */
export async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

/**
 * Two arrays (weights, activations) equal value for value; a failure names the first index that
 * differs. (`assert.deepEqual` would spend minutes writing a diff of arrays this large.)
 */
export function assertSameValues(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what = "values",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i] && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      throw new Error(`${what}: [${i}] is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}
