/** Readable names for WordNet ids, so tables and confusion matrices say "beagle", not n02088364. */
export const IMAGEWOOF_BREEDS: Readonly<Record<string, string>> = {
  n02086240: "Shih-Tzu",
  n02087394: "Rhodesian ridgeback",
  n02088364: "beagle",
  n02089973: "English foxhound",
  n02093754: "Border terrier",
  n02096294: "Australian terrier",
  n02099601: "golden retriever",
  n02105641: "Old English sheepdog",
  n02111889: "Samoyed",
  n02115641: "dingo",
};

/**
 * The breed name where known, else the label itself. Known: ImageWoof's WordNet ids, and class
 * folders named as Stanford Dogs names them (`n02085620-Chihuahua`: the part after the id, `_` as
 * spaces).
 */
export function displayName(label: string): string {
  const named = /^n\d{8}-(.+)$/.exec(label)?.[1];
  return IMAGEWOOF_BREEDS[label] ?? named?.replaceAll("_", " ") ?? label;
}

/** "beagle (n02088364)" where the breed has a name (its own, or one a names file gave), else the
 * label alone (never "25 (25)"). */
export function labelWithName(label: string, name = displayName(label)): string {
  return name === label ? label : `${name} (${label})`;
}
