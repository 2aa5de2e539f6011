/**
 * WebGPU for tfjs, started only where it can beat wasm (a hardware adapter), and quietly: the
 * adapter is probed in a child process, because Mesa's Vulkan drivers print to the terminal when
 * they find no display server. Used by `initBackend` (tf.ts).
 */

/**
 * WebGPU where it can beat wasm: a hardware adapter. Asking Deno for an adapter loads the system's
 * Vulkan drivers in this process, and Mesa's print to the terminal when they cannot reach a
 * display server (`error: XDG_RUNTIME_DIR is invalid or not set`, twice, on every root shell,
 * SSH session and container of a machine with `mesa-vulkan-drivers`). So the adapter is asked
 * for in a child process whose output is kept and summarised, and not at all on a Linux machine
 * without a GPU device node (`/dev/dri/renderD*`, `/dev/nvidia*`, `/dev/dxg`): its answer would be
 * a software adapter, slower than wasm. Asked for by name (`TFJS_BACKEND=webgpu`), WebGPU starts
 * in this process on whatever adapter there is, software ones included (the notice says which).
 */
export async function tryWebGpu(
  forced: boolean,
  trySet: (name: string) => Promise<string | undefined>,
): Promise<string | undefined> {
  const gpu = (navigator as unknown as { gpu?: unknown }).gpu;
  if (!gpu) return "Deno was started without --unstable-webgpu";
  if (!forced) {
    if (!(await gpuDevicePresent())) return "no GPU device";
    const probe = await probeAdapter();
    if (typeof probe === "string") return probe;
    if (probe.software) return `only a software adapter (${probe.description})`;
  }
  const restore = quietDisplayServer();
  try {
    await import(["@tensorflow/tfjs-backend-webgpu"][0]);
    const failed = await trySet("webgpu");
    if (failed) return failed;
    webGpuAdapter = await describeAdapter();
    return undefined;
  } catch (error) {
    return `cannot load tfjs-backend-webgpu: ${(error as Error).message.split("\n")[0]}`;
  } finally {
    await restore();
  }
}

/**
 * Where `XDG_RUNTIME_DIR` is unset, points it at an empty private folder while the drivers load,
 * so that Mesa's attempt to reach a Wayland display fails quietly instead of printing to the
 * terminal (there is no display server to reach either way: compute needs none). Returns what
 * puts the environment back.
 */
function quietDisplayServer(): () => Promise<void> {
  if (Deno.build.os !== "linux" || Deno.env.get("XDG_RUNTIME_DIR")) return async () => {};
  const dir = Deno.makeTempDirSync({ prefix: "dogs-runtime-" });
  Deno.env.set("XDG_RUNTIME_DIR", dir);
  return async () => {
    Deno.env.delete("XDG_RUNTIME_DIR");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
}

/** The adapter tfjs' WebGPU backend runs on, in words, for the notice. */
let webGpuAdapter: string | undefined;

export function adapterInUse(): string | undefined {
  return webGpuAdapter;
}

/** Whether this machine has a GPU device node at all (Linux; elsewhere: assume it may). */
async function gpuDevicePresent(): Promise<boolean> {
  if (Deno.build.os !== "linux") return true;
  const names = async (dir: string) =>
    (await Array.fromAsync(Deno.readDir(dir)).catch(() => [])).map((e) => e.name);
  const dri = await names("/dev/dri");
  const dev = await names("/dev");
  return dri.some((n) => n.startsWith("renderD")) ||
    dev.some((n) => /^nvidia\d+$/.test(n) || n === "dxg");
}

/** What adapter this process's WebGPU offers, as a software or hardware one. */
async function describeAdapter(): Promise<string> {
  const adapter = await (navigator as unknown as {
    gpu: { requestAdapter(): Promise<{ info?: Record<string, unknown> } | null> };
  }).gpu.requestAdapter().catch(() => null);
  const info = adapter?.info ?? {};
  const description = `${info.vendor ?? ""} ${info.description ?? ""}`.trim() || "unnamed";
  return isSoftware(description, info.isFallbackAdapter === true)
    ? `software adapter ${description}: slower than wasm`
    : description;
}

function isSoftware(description: string, fallback: boolean): boolean {
  return fallback || /llvmpipe|lavapipe|swiftshader|software/i.test(description);
}

/** Source of the child that asks for an adapter and prints what it got as one JSON line. */
const PROBE = `
const a = await navigator.gpu?.requestAdapter().catch(() => null);
const i = a?.info ?? {};
console.log(JSON.stringify(a ? { vendor: i.vendor ?? "", description: i.description ?? "",
  fallback: i.isFallbackAdapter === true } : null));`;

/** The adapter a child process gets, or why there is none (its stderr noise kept out). */
export async function probeAdapter(): Promise<{ software: boolean; description: string } | string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", PROBE],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const out = await child.output().finally(() => clearTimeout(timer));
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  let found: { vendor: string; description: string; fallback: boolean } | null;
  try {
    found = JSON.parse(line);
  } catch {
    const said = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ?? "";
    return `the adapter probe failed (exit ${out.code}${said ? `: ${said.slice(0, 120)}` : ""})`;
  }
  if (!found) return "no adapter";
  const description = `${found.vendor} ${found.description}`.trim() || "unnamed";
  return { software: isSoftware(description, found.fallback), description };
}
