/**
 * The seed's stage policies, by the seed's names. `Train_DA` is the full bag of tricks for the
 * first two stages; `Train` keeps only zoom and flip for the last stage, so the model ends on
 * photos that look like the test set. The `Transfer` variants are the same augmentation over a
 * pool that also holds the pseudo-labelled test photos.
 */
export interface AugmentPolicy {
  name: PolicyName;
  /** Half the pool are same-class spliced pairs. */
  splice: boolean;
  rotate: boolean;
  zoom: boolean;
  flip: boolean;
  mask: boolean;
  /** The pool includes pseudo-labelled test photos. */
  pseudoLabels: boolean;
}

export type PolicyName = "Train_DA" | "Train" | "Transfer_DA" | "Transfer";

const FULL = { splice: true, rotate: true, zoom: true, flip: true, mask: true };
const REDUCED = { splice: false, rotate: false, zoom: true, flip: true, mask: false };

export const POLICIES: Readonly<Record<PolicyName, AugmentPolicy>> = {
  Train_DA: { name: "Train_DA", ...FULL, pseudoLabels: false },
  Train: { name: "Train", ...REDUCED, pseudoLabels: false },
  Transfer_DA: { name: "Transfer_DA", ...FULL, pseudoLabels: true },
  Transfer: { name: "Transfer", ...REDUCED, pseudoLabels: true },
};

export function policy(name: string): AugmentPolicy {
  const found = POLICIES[name as PolicyName];
  if (!found) {
    throw new Error(`unknown augmentation policy '${name}' (${Object.keys(POLICIES).join(", ")})`);
  }
  return found;
}
