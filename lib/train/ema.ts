/**
 * timm's model EMA: a moving average of the trainable weights, `a = d a + (1 - d) w` after every
 * step, started afresh from the weights at each stage's start (a stage that unfreezes layers has
 * nothing to average for them before). Averaged weights are usually a little better than the last
 * step's; every round validates both, and the checkpoint keeps the better (callbacks.ts). The
 * native step keeps its own average in its flat arrays and hands it over as it hands the weights.
 */
import { tf } from "../engine/tf.ts";

export class WeightAverage {
  /** The averages, one per variable, in the variables' order. */
  readonly shadow: tf.Variable[];

  constructor(readonly variables: readonly tf.Variable[], readonly decay: number) {
    this.shadow = variables.map((v) => tf.variable(v.clone(), false));
  }

  /** One step's update (tfjs' step; the native step averages by itself). */
  update(): void {
    tf.tidy(() => {
      this.variables.forEach((v, i) =>
        this.shadow[i].assign(tf.add(tf.mul(this.shadow[i], this.decay), tf.mul(v, 1 - this.decay)))
      );
    });
  }

  /** Exchanges the weights and their averages (to validate the averages, then back). */
  swap(): void {
    tf.tidy(() => {
      this.variables.forEach((v, i) => {
        const weights = v.clone();
        v.assign(this.shadow[i]);
        this.shadow[i].assign(weights);
      });
    });
  }

  /** Sets the averages (a checkpoint's, on a mid-stage resume). */
  load(values: readonly tf.Tensor[]): void {
    if (values.length !== this.shadow.length) {
      throw new Error(`${values.length} averages for ${this.shadow.length} variables`);
    }
    this.shadow.forEach((s, i) => s.assign(values[i]));
  }

  dispose(): void {
    tf.dispose(this.shadow);
  }
}
