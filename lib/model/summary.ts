/**
 * What the seed's network is made of, and which of it trains in each stage: the table notebook 03
 * shows before it trains anything.
 */
import type { tf } from "../engine/tf.ts";
import { splitBackbone } from "./backbone.ts";
import { type SeedModel, unfreezeFrom } from "./seed_model.ts";

export interface ModelPart {
  part: string;
  layers: number;
  parameters: number;
  /** Per stage name: "trains" or "frozen". */
  stages: Record<string, string>;
}

const count = (weights: readonly { shape: readonly (number | null)[] }[]) =>
  weights.reduce((n, w) => n + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);

/**
 * The backbone's frozen trunk and unfreezable top, the GLU head, both classifiers and the class
 * centers, with their parameters and, per stage, whether they train. Parameters of the top count
 * what the optimizer updates (BatchNorm's moving statistics stay frozen).
 *
 * @example
 * ```ts
 * const parts = modelParts(run.model, run.stages.map((s) => s.spec));
 * console.table(parts.map((p) => ({ part: p.part, parameters: p.parameters, ...p.stages })));
 * ```
 */
export function modelParts(
  model: SeedModel,
  stages: readonly { name: string; unfreeze: boolean }[],
): ModelPart[] {
  const { backbone, head } = model;
  const from = backbone.spec.unfreezeFromStage;
  const { top } = splitBackbone(backbone, from);
  const topNames = new Set(top.layers.map((l) => l.name));
  const withWeights = (layers: tf.layers.Layer[]) => layers.filter((l) => l.weights.length > 0);
  const trunkLayers = withWeights(backbone.model.layers.filter((l) => !topNames.has(l.name)));
  const topLayers = withWeights(backbone.model.layers.filter((l) => topNames.has(l.name)));
  const layer = (name: string) => head.layers.filter((l) => l.name === name);
  const saved = backbone.model.layers.map((l) => l.trainable);
  unfreezeFrom(model, from);
  const topTrainable = count(topLayers.flatMap((l) => l.trainableWeights));
  backbone.model.layers.forEach((l, i) => (l.trainable = saved[i]));
  const every = (value: (unfreeze: boolean) => string) =>
    Object.fromEntries(stages.map((s) => [s.name, value(s.unfreeze)]));
  const trains = every(() => "trains");
  const glu = [...layer("glu_linear"), ...layer("glu_gate")];
  return [
    {
      part: `${backbone.spec.name} up to ${from} (trunk)`,
      layers: trunkLayers.length,
      parameters: count(trunkLayers.flatMap((l) => l.weights)),
      stages: every(() => "frozen"),
    },
    {
      part: `${backbone.spec.name} from ${from} (last blocks)`,
      layers: topLayers.length,
      parameters: topTrainable,
      stages: every((unfreeze) => (unfreeze ? "trains" : "frozen")),
    },
    ...(glu.length
      ? [{
        part: "GLU features: Dense(64) × sigmoid(Dense(64))",
        layers: glu.length,
        parameters: count(glu.flatMap((l) => l.weights)),
        stages: trains,
      }]
      : []),
    {
      part: glu.length ? "main softmax on the GLU features" : "main softmax on pooled features",
      layers: 1,
      parameters: count(layer("main_logits").flatMap((l) => l.weights)),
      stages: trains,
    },
    {
      part: "aux softmax on the pooled features",
      layers: 1,
      parameters: count(layer("aux_logits").flatMap((l) => l.weights)),
      stages: trains,
    },
    {
      part: "class centers (center loss)",
      layers: 0,
      parameters: model.centers.size,
      stages: trains,
    },
  ];
}
