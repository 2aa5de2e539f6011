import assert from "node:assert/strict";
import { progressCallback } from "@/train/callbacks.ts";
import type { RoundInfo } from "@/train/round.ts";
import type { RoundMetrics } from "@/run/checkpoint.ts";
import type { tf } from "@/engine/tf.ts";

/** The line progressCallback prints when a round ends, on stderr. */
async function roundLine(valTrained: boolean): Promise<string> {
  const info = {
    stage: { name: "Transfer_DA", stepsPerRound: 1 },
    round: 1,
    totalRounds: 1,
    valTrained,
  } as unknown as RoundInfo;
  const metrics = { main: 0.9, aux: 0.8, blend: 0.91, alpha: 0.6, valLoss: 0.3 } as RoundMetrics;
  const lines: string[] = [];
  const error = console.error;
  console.error = (line: string) => lines.push(line);
  try {
    await progressCallback().onRoundEnd!(info, metrics, undefined as unknown as tf.Optimizer);
  } finally {
    console.error = error;
  }
  return lines.join("\n");
}

Deno.test("progress: a round's validation says when the run trains on those photos (the transfer)", async () => {
  assert.match(await roundLine(false), /^ {2}val main 0\.9/m);
  assert.match(await roundLine(true), /^ {2}val \(photos it trains on\) main 0\.9/m);
});
