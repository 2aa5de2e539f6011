/**
 * Where a run's wall time goes: each named phase's seconds, summed over the process, for the
 * summary's phase table (`deno task reproduce` prints it). Phases are leaves, never nested, so
 * they add up to the wall time less what no phase covers.
 */
const totals = new Map<string, number>();

/** Runs `work`, adding its wall time to `phase`. */
export async function timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await work();
  } finally {
    totals.set(phase, (totals.get(phase) ?? 0) + (performance.now() - start) / 1000);
  }
}

/** Seconds per phase so far, in the order the phases first ran. */
export function phaseTimes(): Record<string, number> {
  return Object.fromEntries(totals);
}

/** Forgets what was measured (a new run in the same process). */
export function resetPhases(): void {
  totals.clear();
}
