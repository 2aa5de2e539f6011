/**
 * The seed's class-balanced batches: each batch draws batch/2 distinct classes, weighted by class
 * frequency and without replacement, then 2 samples of each. Two photos of the same breed side by
 * side give the center loss a pair to pull together in every batch. Under a splicing policy each
 * class's pool is doubled with same-class pairs (its list shuffled twice and zipped), so about half
 * the samples are splices.
 *
 * Batch k is a pure function of (seed, k): a resumed run, a prefetch worker and a notebook cell
 * all see the same batch k.
 */
import { Rng } from "../rng.ts";

/** One training sample: a photo, or two photos of the same class to splice. */
export interface Sample {
  label: number;
  ids: readonly [string] | readonly [string, string];
}

export interface SamplerOptions {
  seed: number;
  batchSize?: number;
  /** Samples per drawn class (the seed: 2). */
  perClass?: number;
  /** Double each class pool with spliced pairs (the `_DA` policies). */
  pairs?: boolean;
  /** Plain batches instead of the seed's: `batchSize` samples drawn uniformly from every pool
   * together, with no class pairs (the ablation of the seed's sampler). */
  plain?: boolean;
}

export class BatchSampler {
  readonly batchSize: number;
  readonly perClass: number;
  readonly pools: readonly (readonly Sample[])[];
  /** Class draw weights: the class's photo count (its frequency in the data). */
  readonly weights: readonly number[];
  readonly #seed: number;
  readonly #plain: Sample[] | undefined;

  /** `byClass[c]` holds the photo ids of class c (training photos, plus pseudo-labelled ones
   * under a transfer policy). */
  constructor(byClass: readonly (readonly string[])[], options: SamplerOptions) {
    this.batchSize = options.batchSize ?? 32;
    this.perClass = options.perClass ?? 2;
    if (this.batchSize % this.perClass !== 0) {
      throw new RangeError(`batch size ${this.batchSize} is not a multiple of ${this.perClass}`);
    }
    this.#seed = options.seed;
    const pairRng = new Rng(`pairs:${options.seed}`);
    this.pools = byClass.map((ids, label) => {
      const singles: Sample[] = ids.map((id) => ({ label, ids: [id] }));
      if (!options.pairs || ids.length === 0) return singles;
      const first = pairRng.shuffle([...ids]);
      const second = pairRng.shuffle([...ids]);
      const pairs: Sample[] = first.map((id, i) => ({ label, ids: [id, second[i]] }));
      return [...singles, ...pairs];
    });
    this.weights = byClass.map((ids) => ids.length);
    this.#plain = options.plain ? this.pools.flat() : undefined;
    if (this.weights.every((w) => w === 0)) throw new Error("BatchSampler: no photos in any class");
  }

  /** The k-th batch (k = 0, 1, ...). */
  batch(k: number): Sample[] {
    const rng = new Rng(`batch:${this.#seed}:${k}`);
    if (this.#plain) return drawFromPool(this.#plain, this.batchSize, rng);
    const classes = this.drawClasses(rng, this.batchSize / this.perClass);
    return classes.flatMap((c) => drawFromPool(this.pools[c], this.perClass, rng));
  }

  /** Weighted draws without replacement. With fewer classes than slots (ImageWoof has 10, a
   * batch of 32 wants 16) the draw restarts over all classes once each has been taken. */
  drawClasses(rng: Rng, slots: number): number[] {
    const chosen: number[] = [];
    let remaining = this.weights.map((w, c) => (w > 0 ? c : -1)).filter((c) => c >= 0);
    while (chosen.length < slots) {
      if (remaining.length === 0) {
        remaining = this.weights.map((w, c) => (w > 0 ? c : -1)).filter((c) => c >= 0);
      }
      const total = remaining.reduce((s, c) => s + this.weights[c], 0);
      let u = rng.next() * total;
      let at = 0;
      while (at < remaining.length - 1 && u >= this.weights[remaining[at]]) {
        u -= this.weights[remaining[at++]];
      }
      chosen.push(remaining[at]);
      remaining.splice(at, 1);
    }
    return chosen;
  }
}

/** n samples of one class pool, distinct while the pool allows. */
function drawFromPool(pool: readonly Sample[], n: number, rng: Rng): Sample[] {
  if (pool.length >= n) {
    const picked = new Set<number>();
    while (picked.size < n) picked.add(rng.int(pool.length));
    return [...picked].map((i) => pool[i]);
  }
  return Array.from({ length: n }, () => rng.pick(pool));
}
