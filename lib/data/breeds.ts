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

/** The breed name where known, else the label itself. */
export function displayName(label: string): string {
  return IMAGEWOOF_BREEDS[label] ?? label;
}

/** "beagle (n02088364)" where the breed has a name, else the label alone (never "25 (25)"). */
export function labelWithName(label: string): string {
  const name = displayName(label);
  return name === label ? label : `${name} (${label})`;
}
