/**
 * Floating-point operations per image of a LayersModel's forward pass, counted from its
 * convolution and dense layers (a multiply-add is 2 FLOPs; BatchNorm, activations, adds and
 * pooling are memory-bound and left out, as FLOP tables usually do). The speed benchmark divides
 * measured throughput by these to report achieved GFLOP/s against the machine's peak.
 */
import type { tf } from "../engine/tf.ts";

function lastShape(layer: tf.layers.Layer): number[] {
  const shape = layer.outputShape as number[] | number[][];
  return (Array.isArray(shape[0]) ? shape[0] : shape) as number[];
}

/** Forward FLOPs per image of one layer. */
export function layerFlops(layer: tf.layers.Layer): number {
  const config = layer.getConfig() as Record<string, unknown>;
  const kernel = config.kernelSize as number[] | number | undefined;
  const [kh, kw] = Array.isArray(kernel) ? kernel : [kernel ?? 1, kernel ?? 1];
  const out = lastShape(layer);
  switch (layer.getClassName()) {
    case "Conv2D": {
      const [, h, w, cout] = out;
      return 2 * h * w * cout * kh * kw * (layer.getWeights()[0].shape[2] as number);
    }
    case "DepthwiseConv2D": {
      const [, h, w, c] = out;
      return 2 * h * w * c * kh * kw;
    }
    case "SeparableConv2D": {
      const [, h, w, cout] = out;
      const cin = layer.getWeights()[0].shape[2] as number;
      return 2 * h * w * cin * (kh * kw + cout);
    }
    case "Dense":
      return 2 * (layer.getWeights()[0].shape[0] as number) * out.at(-1)!;
    default:
      return 0;
  }
}

/** Forward FLOPs per image of a model (its layers, each counted once). */
export function modelFlops(model: tf.LayersModel): number {
  return model.layers.reduce((sum, layer) => sum + layerFlops(layer), 0);
}
