/**
 * Contiguous class indices for sparse dataset labels — the seed's `typeid2myid` / `myid2typeid`.
 * The Baidu set numbers its 100 breeds with gaps up to 133; a softmax wants 0..C-1, and a
 * submission wants the dataset's own ids back.
 */
import { DataError } from "../errors.ts";
import { displayName } from "./breeds.ts";

export class LabelMap {
  readonly #index: Map<string, number>;
  /** Each class's display name, in index order: the class folder's breed name, or what a names
   * file gave (`withNames`); the label itself where nothing names it. */
  readonly names: readonly string[];

  private constructor(readonly labels: readonly string[], names?: readonly string[]) {
    this.#index = new Map(labels.map((label, i) => [label, i]));
    this.names = names ?? labels.map(displayName);
  }

  /** Builds the map from every label seen; numeric labels sort numerically, others as text. */
  static fromLabels(seen: Iterable<string>): LabelMap {
    const unique = [...new Set(seen)];
    const numeric = unique.every((l) => /^-?\d+$/.test(l));
    unique.sort(numeric ? (a, b) => Number(a) - Number(b) : (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return new LabelMap(unique);
  }

  /** Restores a saved map in its saved order (index i is `labels[i]`), with its names. */
  static fromOrdered(labels: readonly string[], names?: readonly string[]): LabelMap {
    if (new Set(labels).size !== labels.length) throw new Error("LabelMap: duplicate labels");
    if (names && names.length !== labels.length) throw new Error("LabelMap: a name per label");
    return new LabelMap([...labels], names && [...names]);
  }

  /** The same classes, named by `names` (label -> name) where it names them. */
  withNames(names: ReadonlyMap<string, string>): LabelMap {
    return new LabelMap(this.labels, this.labels.map((l, i) => names.get(l) ?? this.names[i]));
  }

  /** The display name of class `index`. */
  nameOf(index: number): string {
    this.toLabel(index);
    return this.names[index];
  }

  get size(): number {
    return this.labels.length;
  }

  /** The seed's typeid2myid; `source` names the file for the error on an unknown label. */
  toIndex(label: string, source = "labels"): number {
    const index = this.#index.get(label);
    if (index === undefined) {
      throw new DataError(source, `unknown label '${label}' (known: ${this.describe()})`);
    }
    return index;
  }

  /** The seed's myid2typeid. */
  toLabel(index: number): string {
    const label = this.labels[index];
    if (label === undefined) {
      throw new RangeError(`class index ${index} outside 0..${this.size - 1}`);
    }
    return label;
  }

  has(label: string): boolean {
    return this.#index.has(label);
  }

  private describe(): string {
    const shown = this.labels.slice(0, 8).join(", ");
    return this.size > 8 ? `${shown}, ... ${this.size} in all` : shown;
  }
}
