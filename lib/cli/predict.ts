/**
 * `deno task predict --run DIR PHOTO|FOLDER...`: a trained model's top breeds for any photos,
 * with the blend weight its run chose on validation. The same decoding and prediction code as
 * the submission files.
 */
import { initBackend } from "../engine/tf.ts";
import { loadFinalModel } from "../predict/predict.ts";
import { listPhotos, type PhotoPrediction, predictFiles } from "../predict/photos.ts";
import { logLine, progressBar } from "../progress.ts";
import { DataError, UsageError } from "../errors.ts";
import { readNames } from "../data/names.ts";
import { labelWithName } from "../data/breeds.ts";
import { explainFiles } from "../predict/explain.ts";
import { flipOption, given, integerOption, parseCli } from "./run_args.ts";
import { runMain } from "./main.ts";
import { DEFAULTS } from "../defaults.ts";

const HELP = `Usage: deno task predict --run DIR [options] PHOTO|FOLDER...

  --run DIR        a run folder: deno task train's (its best checkpoint) or deno task
                   reproduce's (the model of its final submissions)
  --top K          breeds to show per photo (default ${DEFAULTS.top})
  --flip, --no-flip
                   average each photo with its mirror image, or not (default: as the run's
                   submissions do: the cpu preset's runs do, the seed preset's do not)
  --json           one JSON array: [{path, top: [{label, name, probability}]} | {path, error}]
  --tsv            path, rank, label, name, probability (one row per guess; errors as rank 0)
  --names FILE     display names for the labels: 'label<TAB>name' lines (a competition's
                   numeric ids); default: the names the run keeps (ImageWoof's and Stanford
                   Dogs' class folders are named)
  --explain DIR    also write each photo's Grad-CAM heatmaps into DIR, one PNG per head
                   (<n>-<photo>-main.png, -aux.png): where the head found its top breed
  --cache-dir DIR  decoded-photo cache (default data/cache)

Folders are read recursively. An unreadable photo gets a line saying why; the others still get
their answers.`;

await runMain(async () => {
  const { values, positionals } = parseCli(HELP, {
    run: { type: "string" },
    top: { type: "string" },
    flip: { type: "boolean" },
    "no-flip": { type: "boolean" },
    json: { type: "boolean", default: false },
    tsv: { type: "boolean", default: false },
    "cache-dir": { type: "string" },
    names: { type: "string" },
    explain: { type: "string" },
  });
  if (!values.run) throw new UsageError("--run DIR is needed (see --help)");
  if (!positionals.length) throw new UsageError("name at least one photo or folder (see --help)");
  if (values.json && values.tsv) throw new UsageError("--json and --tsv: choose one");
  const top = given(values.top, (v) => integerOption("top", v)) ?? DEFAULTS.top;
  if (top < 1) throw new UsageError(`--top '${values.top}': expected a whole number >= 1`);
  await initBackend({ quiet: true }); // its results are the output
  const names = values.names ? await readNames(values.names) : undefined;
  const loaded = await loadFinalModel(values.run);
  const run = names ? { ...loaded, labels: loaded.labels.withNames(names) } : loaded;
  const flip = flipOption(values) ?? run.flip;
  logLine(`model: ${run.description}${flip ? "; each photo averaged with its mirror image" : ""}`);
  const notPhotos: string[] = [];
  const photos = await listPhotos(positionals, notPhotos);
  if (notPhotos.length) {
    logLine(
      `left out ${notPhotos.length} file(s) of the folders that are not photos by their names ` +
        `(${notPhotos.slice(0, 3).join(", ")}${notPhotos.length > 3 ? ", ..." : ""}): ` +
        `name one directly to try it`,
    );
  }
  if (!photos.length) throw new UsageError(`no photos in ${positionals.join(", ")}`);
  const bar = (label: string) => {
    let progress: ReturnType<typeof progressBar> | undefined;
    return (done: number, total: number) => {
      if (total <= 8) return;
      progress ??= progressBar(label, total);
      progress.update(done);
      if (done === total) progress.done();
    };
  };
  const results = await predictFiles(run, photos, {
    top,
    flip,
    cacheDir: values["cache-dir"],
    onDecode: bar("decode"),
    onPredict: bar("predict"),
  });
  console.log(
    values.json ? JSON.stringify(results, null, 1) : values.tsv ? tsv(results) : text(results),
  );
  if (values.explain) {
    const explained = await explainFiles(run, photos, values.explain, {
      cacheDir: values["cache-dir"],
    });
    logLine(`heatmaps of ${explained.length} photo(s): ${values.explain}`);
  }
  const unreadable = results.filter((r) => r.error).length;
  if (unreadable === results.length) {
    throw new DataError(
      positionals.join(", "),
      `none of the ${results.length} photo(s) could be read (each one's reason is above)`,
    );
  }
  if (unreadable) {
    console.error(`${unreadable} of ${results.length} photo(s) could not be read (named above)`);
  }
});

function text(results: PhotoPrediction[]): string {
  return results.map((r) =>
    r.error
      ? `${r.path}: cannot read: ${r.error}`
      : `${r.path}: ${
        r.top!.map((g) => `${labelWithName(g.label, g.name)} ${(100 * g.probability).toFixed(1)}%`)
          .join(", ")
      }`
  ).join("\n");
}

function tsv(results: PhotoPrediction[]): string {
  const rows = [["path", "rank", "label", "name", "probability"]];
  for (const r of results) {
    if (r.error) rows.push([r.path, "0", "", r.error, ""]);
    else {r.top!.forEach((g, i) =>
        rows.push([r.path, String(i + 1), g.label, g.name, g.probability.toFixed(6)])
      );}
  }
  return rows.map((row) => row.join("\t")).join("\n");
}
