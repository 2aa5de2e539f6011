/**
 * A static server for an export folder: what `deno task serve` runs and the tests drive the page
 * through. It sends the headers that make the page cross-origin isolated (COOP and COEP), which
 * onnxruntime-web needs before it runs on more than one thread (`python3 -m http.server` sends
 * none: one thread). It serves the folder and nothing above it, and listens on 127.0.0.1 unless
 * told otherwise.
 */
import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".mjs": "text/javascript",
  ".js": "text/javascript",
  ".json": "application/json",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".png": "image/png",
  ".webp": "image/webp",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
};

export interface FolderServer {
  /** http://host:port */
  origin: string;
  /** Paths asked for, in order. */
  requests: string[];
  close(): Promise<void>;
}

export interface ServeOptions {
  hostname?: string;
  /** 0: any free port. */
  port?: number;
  /** COOP/COEP headers (default): onnxruntime-web's threads. */
  isolated?: boolean;
}

/** Serves `dir` until `close()`. */
export function serveFolder(
  dir: string,
  { hostname = "127.0.0.1", port = 0, isolated = true }: ServeOptions = {},
): FolderServer {
  const requests: string[] = [];
  const server = Deno.serve({ hostname, port, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    requests.push(path);
    const name = normalize(path.slice(1) || "index.html");
    // normalize() keeps a leading ../ : a path that climbs out of the folder is not served.
    const body = name.startsWith("..") || name.startsWith("/")
      ? undefined
      : await Deno.readFile(join(dir, name)).catch(() => undefined);
    if (!body) return new Response("not found", { status: 404 });
    const headers: Record<string, string> = {
      "content-type": TYPES[extname(name).toLowerCase()] ?? "application/octet-stream",
    };
    if (isolated) {
      headers["cross-origin-opener-policy"] = "same-origin";
      headers["cross-origin-embedder-policy"] = "require-corp";
    }
    return new Response(body, { headers });
  });
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    origin: `http://${host}:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}
