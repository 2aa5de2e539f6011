/**
 * Rich display in the Deno Jupyter kernel: an object with a `Symbol.for("Jupyter.display")`
 * method shows as its MIME bundle when it is a cell's last value; `Deno.jupyter` (present only
 * inside the kernel) can also show or update a display from anywhere in a cell.
 */

export type MimeBundle = Record<string, string>;

export interface Displayable {
  [key: symbol]: () => MimeBundle;
}

/** Wraps a MIME bundle so a notebook cell shows it. */
export function displayable(bundle: MimeBundle): Displayable {
  return { [Symbol.for("Jupyter.display")]: () => bundle };
}

interface JupyterApi {
  broadcast(type: string, content: Record<string, unknown>): Promise<void>;
}

/** The kernel API when running inside `deno jupyter`, else undefined (CLI runs). */
export function jupyter(): JupyterApi | undefined {
  return (Deno as unknown as { jupyter?: JupyterApi }).jupyter;
}

/** Shows a bundle now (not only as a cell's last value); `id` lets `updateDisplay` replace it. */
export async function showNow(bundle: MimeBundle, id?: string): Promise<void> {
  await jupyter()?.broadcast("display_data", {
    data: bundle,
    metadata: {},
    transient: id ? { display_id: id } : {},
  });
}

/** Replaces the content of a display shown with `showNow(bundle, id)` (live progress). */
export async function updateDisplay(bundle: MimeBundle, id: string): Promise<void> {
  await jupyter()?.broadcast("update_display_data", {
    data: bundle,
    metadata: {},
    transient: { display_id: id },
  });
}
