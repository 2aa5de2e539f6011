/// <reference lib="deno.worker" />
/**
 * A decode worker: reads a photo and, when it is a plain JPEG (`jpeg_header.ts`), decodes it with
 * libjpeg-turbo (`turbojpeg.ts`) and makes its square frame. Anything else, and any failure, is
 * answered with no frame: the caller decodes that photo with sharp, which names the problem. No
 * sharp here (see `image_cache.ts` on sharp in workers).
 */
import { plainJpeg } from "./jpeg_header.ts";
import { squareNearest } from "./square.ts";
import { openTurboJpeg } from "./turbojpeg.ts";

export interface DecodeJob {
  id: number;
  path: string;
  size: number;
  /** A frame the caller is done with, to decode into (transferred here): no fresh buffer. */
  into?: Uint8Array;
}

/** What a worker answers: a frame, no frame, or (once, first) that it has no decoder. */
export type DecodeAnswer =
  | { id: number; frame?: Uint8Array; reused?: boolean }
  | { unavailable: string };

const turbo = openTurboJpeg();
if (typeof turbo === "string") self.postMessage({ unavailable: turbo } satisfies DecodeAnswer);

function frameOf({ path, size }: DecodeJob, into?: Uint8Array): Uint8Array | undefined {
  if (typeof turbo === "string") return undefined;
  const bytes = Deno.readFileSync(path);
  if (!plainJpeg(bytes)) return undefined;
  const image = turbo.decode(bytes);
  return image && squareNearest(image, size, 3, into).data;
}

self.onmessage = (event: MessageEvent<DecodeJob>) => {
  const { id, size } = event.data;
  // The pool sends only whole buffers; a spare of another size's frame is left to the collector.
  const into = event.data.into?.length === size * size * 3 ? event.data.into : undefined;
  let frame: Uint8Array | undefined;
  try {
    frame = frameOf(event.data, into);
  } catch {
    frame = undefined; // unreadable here: sharp reads it again and names the problem
  }
  if (frame) {
    const answer = { id, frame, reused: frame === into } satisfies DecodeAnswer;
    self.postMessage(answer, [frame.buffer as ArrayBuffer]);
  } else self.postMessage({ id } satisfies DecodeAnswer);
};
