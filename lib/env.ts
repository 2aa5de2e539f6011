/**
 * Environment variables read as options are: checked when read, a bad value one line naming the
 * variable and what it takes (`DOGS_ENGINE 'gpu': expected one of auto, onnxruntime, tfjs`), the
 * same `UsageError` a bad option gives. An unset or empty variable is the default.
 */
import { UsageError } from "./errors.ts";

function raw(name: string): string | undefined {
  const value = Deno.env.get(name);
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** One of `choices` (case-insensitive), or `fallback` when unset. */
export function envChoice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
  const value = raw(name);
  if (value === undefined) return fallback;
  const lower = value.trim().toLowerCase() as T;
  if (!choices.includes(lower)) {
    throw new UsageError(`${name} '${value}': expected one of ${choices.join(", ")}`);
  }
  return lower;
}

/** A whole number in [min, max], or `fallback` when unset. */
export function envInteger(
  name: string,
  range: { min: number; max?: number },
  fallback: number,
): number {
  const value = raw(name);
  if (value === undefined) return fallback;
  const n = Number(value);
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(n) || n < range.min || n > max) {
    throw new UsageError(
      `${name} '${value}': expected a whole number from ${range.min}` +
        (range.max === undefined ? " up" : ` to ${range.max}`),
    );
  }
  return n;
}

/** A number above `above` and at most `max`, or undefined when unset. */
export function envNumber(
  name: string,
  range: { above: number; max: number; unit?: string },
): number | undefined {
  const value = raw(name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= range.above || n > range.max) {
    throw new UsageError(
      `${name} '${value}': expected ${range.unit ?? "a number"} above ${range.above}, ` +
        `at most ${range.max}`,
    );
  }
  return n;
}

/** "1" (on) or "0" (off); unset is off. */
export function envFlag(name: string): boolean {
  return envChoice(name, ["0", "1"], "0") === "1";
}
