/**
 * libjpeg-turbo's TurboJPEG library through Deno's FFI: a JPEG to RGB in ~0.3 ms where sharp
 * spends 2-3 ms of CPU on libvips' machinery around the same libjpeg code, and, unlike sharp, it
 * runs in workers. A system library (Debian/Ubuntu `libturbojpeg0`, Homebrew `jpeg-turbo`,
 * `turbojpeg.dll` on Windows); where it is missing, photos decode with sharp as before.
 * `DOGS_DECODER=sharp` turns it off, `DOGS_TURBOJPEG=PATH` names the library file.
 */
import { envChoice } from "../env.ts";

/** The library file names tried, in order, when `DOGS_TURBOJPEG` names none. */
const NAMES: Record<string, string[]> = {
  linux: ["libturbojpeg.so.0", "libturbojpeg.so"],
  darwin: [
    "libturbojpeg.dylib",
    "/opt/homebrew/opt/jpeg-turbo/lib/libturbojpeg.dylib",
    "/usr/local/opt/jpeg-turbo/lib/libturbojpeg.dylib",
  ],
  windows: ["turbojpeg.dll"],
};

/** `unsigned long`: 64 bits on Linux and macOS, 32 on Windows. */
const ULONG = Deno.build.os === "windows" ? "u32" : "u64";
const SYMBOLS = {
  tjInitDecompress: { parameters: [], result: "pointer" },
  tjDecompressHeader3: {
    parameters: ["pointer", "buffer", ULONG, "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  tjDecompress2: {
    parameters: ["pointer", "buffer", ULONG, "buffer", "i32", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  tjDestroy: { parameters: ["pointer"], result: "i32" },
} as const;

const TJPF_RGB = 0;

/** A TurboJPEG decompressor; one per thread (its handle is not shared). */
export interface TurboJpeg {
  /** RGB pixels of a JPEG, or undefined on any error or warning (sharp then decides). The pixels
   * lie in a buffer the decompressor keeps and overwrites on the next call: a fresh one per photo
   * costs more in page faults on these VMs (~7 us a page) than the decoding. */
  decode(bytes: Uint8Array): { width: number; height: number; data: Uint8Array } | undefined;
  close(): void;
}

/** What `DOGS_DECODER` asks for: `sharp` turns libjpeg-turbo off (checked where the pool starts,
 * so a bad value is one line before any worker runs). */
export function decoderFromEnv(): "auto" | "sharp" {
  return envChoice("DOGS_DECODER", ["auto", "sharp"], "auto");
}

/** The decompressor, or why there is none (library missing, or turned off). */
export function openTurboJpeg(): TurboJpeg | string {
  if (decoderFromEnv() === "sharp") return "turned off (DOGS_DECODER=sharp)";
  const given = Deno.env.get("DOGS_TURBOJPEG");
  const names = given ? [given] : NAMES[Deno.build.os] ?? NAMES.linux;
  const reasons: string[] = [];
  for (const name of names) {
    try {
      return decompressor(Deno.dlopen(name, SYMBOLS));
    } catch (error) {
      reasons.push(`${name}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  return `libturbojpeg not found (${reasons.join("; ")})`;
}

function decompressor(lib: Deno.DynamicLibrary<typeof SYMBOLS>): TurboJpeg {
  const handle = lib.symbols.tjInitDecompress();
  if (handle === null) {
    lib.close();
    throw new Error("tjInitDecompress failed");
  }
  const width = new Int32Array(1);
  const height = new Int32Array(1);
  const subsampling = new Int32Array(1);
  const colourspace = new Int32Array(1);
  let scratch = new Uint8Array(0);
  const length = (n: number) => (ULONG === "u64" ? BigInt(n) : n) as never;
  return {
    decode(bytes) {
      const { symbols } = lib;
      if (
        symbols.tjDecompressHeader3(
          handle,
          bytes,
          length(bytes.length),
          width,
          height,
          subsampling,
          colourspace,
        ) !== 0
      ) return undefined;
      const [w, h] = [width[0], height[0]];
      if (scratch.length < w * h * 3) scratch = new Uint8Array(w * h * 3);
      const data = scratch.subarray(0, w * h * 3);
      // Flags 0: the accurate integer IDCT and fancy upsampling, libjpeg's defaults, as libvips
      // decodes (the same pixels: test/data/fast_decode_test.ts).
      const status = symbols.tjDecompress2(
        handle,
        bytes,
        length(bytes.length),
        data,
        w,
        0,
        h,
        TJPF_RGB,
        0,
      );
      return status === 0 ? { width: w, height: h, data } : undefined;
    },
    close() {
      lib.symbols.tjDestroy(handle);
      lib.close();
    },
  };
}
