/// <reference lib="deno.worker" />
/** The prefetch worker: makes the batches the main thread asks for and hands their buffers over
 * without copying. */
import { batchMaker, type StreamConfig } from "./pipeline.ts";

let maker: ReturnType<typeof batchMaker> | undefined;

self.onmessage = (event: MessageEvent) => {
  const message = event.data as { type: "init"; config: StreamConfig } | {
    type: "batch";
    k: number;
  };
  if (message.type === "init") {
    maker = batchMaker(message.config);
    return;
  }
  try {
    const batch = maker!.make(message.k);
    self.postMessage(
      {
        k: message.k,
        images: batch.images.buffer,
        labels: batch.labels.buffer,
        n: batch.n,
        size: batch.size,
      },
      [batch.images.buffer as ArrayBuffer, batch.labels.buffer as ArrayBuffer],
    );
  } catch (error) {
    self.postMessage({ k: message.k, error: (error as Error).message });
  }
};
