/**
 * Every setting's default, in one place: the seed's values unless a comment says otherwise. The
 * library fills a missing setting from here where a run or a job is opened (`resolveRunSettings`,
 * `openReproduction`), and the CLI's help prints them; nothing else restates a value.
 *
 * Only plain values: every layer may import this module.
 */
export const DEFAULTS = {
  /** Seed of every random choice (and of the data split, unless `splitSeed` is given). */
  seed: 0,
  /** Per-class validation fraction: the seed's 90/10 split. */
  valFraction: 0.1,
  /** ImageFolder data: per-class part carved off as the test set (the competition had its own). */
  testFraction: 0.1,
  /** The seed's GLU feature head (false: the main softmax straight on pooled features). */
  glu: true,
  /** The seed's weights of the center loss and of the auxiliary head's cross-entropy. */
  lossWeights: { center: 0.25, aux: 0.25 },
  /** Mirror-image test-time augmentation (beyond the seed), where the preset says nothing (the
   * `cpu` preset says on). */
  flip: false,
  /** Keep pseudo-labels whose blended probability reaches this (0 keeps all, as the seed). */
  threshold: 0,
  /** Run the pseudo-label transfer when the preset has transfer stages. */
  transfer: true,
  /** SGD's momentum where an optimizer spec leaves it out (the seed's SGD says 0.9). */
  momentum: 0.9,
  /** Breeds shown per photo by `predict`. */
  top: 3,
} as const;
