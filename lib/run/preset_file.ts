/**
 * Recipes as data: a preset is a JSON file a user can write, checked field by field before a run
 * opens (one line naming the first bad field), and every built-in preset prints in that form as a
 * starting point (`deno task presets cpu > my.json`). The schema is the `Preset` type's, strict:
 * a misspelt field is refused, not ignored.
 */
import { basename, extname } from "node:path";
import { z } from "zod";
import { DataError } from "../errors.ts";
import { POLICIES } from "../augment/policy.ts";
import { backboneNames, unfreezableStages } from "../model/backbones.ts";
import type { Preset } from "./presets.ts";

const positive = z.number().positive().finite();
const whole = (min: number) => z.number().int().min(min).max(1_000_000);

const optimizer = z.strictObject({
  kind: z.enum(["adam", "sgd"]),
  learningRate: positive.max(10),
  momentum: z.number().min(0).lt(1).optional(),
});

const stage = z.strictObject({
  name: z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.', '-' only"),
  rounds: whole(1),
  stepsPerRound: whole(1),
  optimizer,
  policy: z.enum(Object.keys(POLICIES) as [string, ...string[]]),
  unfreeze: z.boolean(),
  schedule: z.enum(["constant", "cosine", "one-cycle"]).optional(),
  warmup: z.number().min(0).lt(1).optional(),
  patience: whole(1).optional(),
});

const presetSchema = z.strictObject({
  name: z.string().min(1).max(80).regex(
    /^[A-Za-z0-9_.+=,-]+$/,
    "letters, digits and _ . + = , - only",
  ),
  backbone: z.strictObject({
    name: z.enum(backboneNames() as [string, ...string[]]),
    alpha: z.number().positive().max(2).optional(),
    size: whole(32).max(1024),
    unfreezeFrom: z.string().optional(),
  }).superRefine((b, ctx) => {
    if (b.unfreezeFrom === undefined) return;
    const stages = unfreezableStages(b.name, b);
    if (!stages.includes(b.unfreezeFrom)) {
      ctx.addIssue({
        code: "custom",
        path: ["unfreezeFrom"],
        message: `no stage '${b.unfreezeFrom}' of ${b.name} (expected one of ${stages.join(", ")})`,
      });
    }
  }),
  batchSize: whole(2).refine((n) => n % 2 === 0, "an even number (pairs of one breed)"),
  mode: z.enum(["cached", "end-to-end"]),
  cachedBatches: whole(0),
  stages: z.array(stage).min(1),
  transferStages: z.array(stage),
  regularize: z.strictObject({
    labelSmoothing: z.number().min(0).lt(1).optional(),
    mixup: z.number().min(0).max(100).optional(),
    cutmix: z.number().min(0).max(100).optional(),
  }).optional(),
  ema: z.number().gt(0).lt(1).optional(),
  flip: z.boolean().optional(),
}).refine((p) => p.mode !== "cached" || p.cachedBatches >= 1, {
  message: "a cached preset caches at least one batch",
  path: ["cachedBatches"],
});

/** A preset from parsed JSON, or a DataError naming `source` and the first bad field. */
export function parsePreset(value: unknown, source: string): Preset {
  const result = presetSchema.safeParse(value);
  if (result.success) return result.data as Preset;
  const issue = result.error.issues[0];
  const where = issue.path.reduce<string>(
    (text, key) =>
      typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key),
    "",
  );
  throw new DataError(source, `${where || "the preset"}: ${issue.message}`);
}

/** Whether a `--preset` value names a file rather than a built-in preset. */
export function isPresetFile(value: string): boolean {
  return extname(value) === ".json" || value.includes("/");
}

/** A preset file: its JSON checked field by field. A file without a name is named after itself. */
export async function readPresetFile(path: string): Promise<Preset> {
  const text = await Deno.readTextFile(path).catch((error) => {
    throw new DataError(path, `cannot read the preset file (${(error as Error).message})`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataError(path, `not valid JSON (${(error as Error).message})`);
  }
  if (value && typeof value === "object" && !Array.isArray(value) && !("name" in value)) {
    value = { name: basename(path, ".json").replace(/[^A-Za-z0-9_.+=-]+/g, "_"), ...value };
  }
  return parsePreset(value, path);
}

/** A preset as a file holds it (a budget plan is not part of a recipe: `--minutes` makes it). */
export function presetJson(preset: Preset): string {
  const { budget: _, ...recipe } = preset;
  return JSON.stringify(recipe, null, 2) + "\n";
}
