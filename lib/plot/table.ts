/** Tables in notebooks: an HTML table for Jupyter, aligned text for plain front ends. */
import { escapeHtml, show } from "../display.ts";

/**
 * Shows a table in a notebook (await it), or prints it aligned on the console.
 *
 * @example
 * ```ts
 * await showTable([{ breed: "beagle", photos: 12 }, { breed: "dingo", photos: 7 }], "photos");
 * ```
 */
export async function showTable(
  rows: readonly Record<string, unknown>[],
  title?: string,
): Promise<void> {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (
    v: unknown,
  ) => (typeof v === "number" && !Number.isInteger(v) ? v.toFixed(4) : String(v ?? ""));
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const body = rows.map((r) =>
    `<tr>${columns.map((c) => `<td>${escapeHtml(cell(r[c]))}</td>`).join("")}</tr>`
  ).join("");
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join("  ");
  const text = [line(columns), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join("\n");
  await show({
    "text/html": (title ? `<b>${escapeHtml(title)}</b>` : "") +
      `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`,
    "text/plain": (title ? `${title}\n` : "") + text,
  });
}
