/**
 * Submission files exactly as the seed writes them: one line per test photo,
 * `label<TAB>image_id`, labels in the dataset's own ids — from the main head, the auxiliary head
 * and their alpha blend — plus every probability, for ensembling later.
 */
import type { LabelMap } from "../data/labels.ts";
import { readRows, readTable, writeTable } from "../data/table.ts";
import { DataError } from "../errors.ts";
import { argmaxRow, blend } from "../model/blend.ts";
import type { Probabilities } from "./predict.ts";
import { submissionFiles } from "../layout.ts";

export interface SubmissionFiles {
  main: string;
  aux: string;
  blend: string;
  probabilities: string;
}

export async function writeSubmissions(
  dir: string,
  ids: readonly string[],
  probs: Probabilities,
  alpha: number,
  labels: LabelMap,
): Promise<SubmissionFiles> {
  await Deno.mkdir(dir, { recursive: true });
  const files: SubmissionFiles = submissionFiles(dir);
  const lines = (p: Float32Array) =>
    ids.map((id, i) => [labels.toLabel(argmaxRow(p, i, probs.classes)), id]);
  await writeTable(files.main, lines(probs.main), { delimiter: "\t" });
  await writeTable(files.aux, lines(probs.aux), { delimiter: "\t" });
  await writeTable(files.blend, lines(blend(probs.main, probs.aux, alpha)), { delimiter: "\t" });
  const columns = [
    "image_id",
    ...labels.labels.map((l) => `main_${l}`),
    ...labels.labels.map((l) => `aux_${l}`),
  ];
  const rows = ids.map((id, i) => {
    const row: Record<string, string> = { image_id: id };
    labels.labels.forEach((l, c) => {
      row[`main_${l}`] = probs.main[i * probs.classes + c].toFixed(6);
      row[`aux_${l}`] = probs.aux[i * probs.classes + c].toFixed(6);
    });
    return row;
  });
  await writeTable(files.probabilities, rows, { columns, delimiter: "\t" });
  return files;
}

export interface Score {
  accuracy: number;
  correct: number;
  total: number;
  perClass: { label: string; accuracy: number; total: number }[];
}

/**
 * The answer key: a table with `id` and `label` columns (what a run writes as test_answers.tsv),
 * or the competition's own form, submission-like `label<TAB>image_id` lines without a header.
 */
export async function readAnswers(answers: string): Promise<Map<string, string>> {
  const rows = await readRows(answers, { delimiter: "\t" });
  const header = rows[0]?.map((h) => h.toLowerCase()) ?? [];
  const truth = new Map<string, string>();
  if (header.includes("id") && header.includes("label")) {
    for (const r of await readTable(answers, { delimiter: "\t" })) truth.set(r.id, r.label);
  } else {
    rows.forEach(([label, id], i) => {
      if (id === undefined) {
        throw new DataError(
          answers,
          "expected an 'id, label' table or 'label<TAB>image_id'",
          i + 1,
        );
      }
      if (truth.has(id)) throw new DataError(answers, `image id '${id}' appears twice`, i + 1);
      truth.set(id, label);
    });
  }
  if (truth.size === 0) {
    const table = header.includes("id") && header.includes("label");
    throw new DataError(
      answers,
      table
        ? "holds no answers: a run on the competition layout knows no test labels (its test " +
          "photos come unlabelled); score against the competition's answer key, or run on a " +
          "labelled ImageFolder dataset, whose carved-off test part is answered here"
        : "no answers in this file",
    );
  }
  return truth;
}

/** Labels in a readable order: numerically when they all are numbers (Baidu's type ids). */
export function compareLabels(a: string, b: string): number {
  const [x, y] = [Number(a), Number(b)];
  if (a.trim() !== "" && b.trim() !== "" && Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Scores a submission (`label<TAB>image_id`) against an answer key (see readAnswers). */
export async function scoreSubmission(submission: string, answers: string): Promise<Score> {
  const truth = await readAnswers(answers);
  const rows = await readRows(submission, { delimiter: "\t" });
  const seen = new Set<string>();
  const perClass = new Map<string, { correct: number; total: number }>();
  let correct = 0;
  rows.forEach(([label, id], i) => {
    if (id === undefined) throw new DataError(submission, `expected 'label<TAB>image_id'`, i + 1);
    if (!truth.has(id)) {
      throw new DataError(submission, `image id '${id}' is not in ${answers}`, i + 1);
    }
    if (seen.has(id)) throw new DataError(submission, `image id '${id}' appears twice`, i + 1);
    seen.add(id);
    const expected = truth.get(id)!;
    const c = perClass.get(expected) ?? { correct: 0, total: 0 };
    c.total++;
    if (label === expected) {
      c.correct++;
      correct++;
    }
    perClass.set(expected, c);
  });
  const answerLabels = new Set(truth.values());
  if (rows.length && rows.every(([label]) => !answerLabels.has(label))) {
    const sample = (labels: Iterable<string>) =>
      [...new Set(labels)].slice(0, 3).map((l) => `'${l}'`).join(", ");
    throw new DataError(
      submission,
      `none of its labels (${sample(rows.map((r) => r[0]))}, ...) is a label of ${answers} ` +
        `(${sample(answerLabels)}, ...): the two files use different label sets`,
    );
  }
  if (seen.size !== truth.size) {
    const missing = [...truth.keys()].filter((id) => !seen.has(id));
    const first = missing.slice(0, 3).map((id) => `'${id}'`).join(", ");
    throw new DataError(
      submission,
      `${missing.length} of ${truth.size} answer ids have no prediction (first: ${first}` +
        `${missing.length > 3 ? ", ..." : ""})`,
    );
  }
  return {
    accuracy: correct / truth.size,
    correct,
    total: truth.size,
    perClass: [...perClass].sort(([a], [b]) => compareLabels(a, b))
      .map(([label, c]) => ({ label, accuracy: c.correct / c.total, total: c.total })),
  };
}
