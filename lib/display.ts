/**
 * Showing things from notebook cells. Every helper displays *now* (a `display_data` message,
 * awaited) instead of returning a value for the cell to print: the Deno kernel sometimes delivers
 * a cell's final value after the cell is reported finished, and a headless run (`jupyter
 * nbconvert --execute`, CI) then drops it. Outside the kernel (CLI runs) the plain-text form is
 * printed instead.
 */

export type MimeBundle = Record<string, string>;

/** Text made safe inside HTML: in an element, or in an attribute's double or single quotes. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[<&>"']/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

interface JupyterApi {
  broadcast(type: string, content: Record<string, unknown>): Promise<void>;
}

let override: JupyterApi | undefined;

/** Routes displays to another receiver (tests record what a notebook would show). */
export function useKernel(api: JupyterApi | undefined): void {
  override = api;
}

/** The kernel API when running inside `deno jupyter`, else undefined (`Deno.jupyter` throws
 * outside the kernel). */
export function jupyter(): JupyterApi | undefined {
  if (override) return override;
  try {
    return (Deno as unknown as { jupyter?: JupyterApi }).jupyter;
  } catch {
    return undefined;
  }
}

/** Displays a MIME bundle; `id` lets `updateDisplay` replace it later (live progress). */
export async function show(bundle: MimeBundle, id?: string): Promise<void> {
  const kernel = jupyter();
  if (!kernel) {
    if (bundle["text/plain"]) console.log(bundle["text/plain"]);
    return;
  }
  await kernel.broadcast("display_data", {
    data: bundle,
    metadata: {},
    transient: id ? { display_id: id } : {},
  });
  await flushed(bundle);
}

/** `broadcast` resolves once the message is queued, not sent; a cell that ends right after can
 * be reported idle first, and headless runners then drop the output (seen here: one cell in
 * thirty with no pause, about one in a hundred with 30 ms, under load). A pause, longer for big
 * outputs, lets the kernel send it first; an interactive front end shows late outputs anyway. */
function flushed(bundle: MimeBundle): Promise<void> {
  if (override) return Promise.resolve();
  const bytes = Object.values(bundle).reduce((n, v) => n + v.length, 0);
  return new Promise((resolve) => setTimeout(resolve, 250 + bytes / 20_000));
}

/** Replaces the content of a display shown with `show(bundle, id)`. */
export async function updateDisplay(bundle: MimeBundle, id: string): Promise<void> {
  await jupyter()?.broadcast("update_display_data", {
    data: bundle,
    metadata: {},
    transient: { display_id: id },
  });
}
