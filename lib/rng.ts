/**
 * The project's only source of randomness: a small, fast, seedable generator (sfc32) whose whole
 * state is four 32-bit words (`state()` gives them, the constructor takes them back). Runs seed a
 * fresh generator from a name and a number for every batch (`augment:<seed>:<k>`), so batch k
 * is the same after a resume without storing any state; nothing in `lib/` draws from
 * `Math.random`, so every split, batch and figure is reproducible.
 */

export type RngState = readonly [number, number, number, number];

export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Seeds from an integer or a string (hashed), e.g. `new Rng("split")`. */
  constructor(seed: number | string | RngState = 0) {
    if (Array.isArray(seed)) {
      [this.#a, this.#b, this.#c, this.#d] = seed as RngState;
      return;
    }
    // splitmix32 spreads a small seed over the whole state, then the first outputs are dropped
    // because sfc32 needs a few rounds to mix a low-entropy state.
    let s = typeof seed === "string" ? hashString(seed) : (seed as number) >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0) || !Number.isInteger(n)) throw new RangeError(`Rng.int: n must be > 0, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** Fisher-Yates shuffle in place; returns the same array for chaining. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** A uniformly chosen element. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** An independent generator for a named sub-task, so adding draws in one place does not shift
   * the stream of another (e.g. the split stays the same when augmentation changes). */
  fork(name: string): Rng {
    return new Rng((this.uint32() ^ hashString(name)) >>> 0);
  }

  state(): RngState {
    return [this.#a, this.#b, this.#c, this.#d];
  }
}

/** FNV-1a, enough to turn a name into a seed. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
