import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { projectRoot, relativePaths } from "@/paths.ts";

Deno.test("relativePaths: absolute paths in a line become project-relative when shorter", () => {
  const root = projectRoot();
  const shared = resolve(root, "..", "shared", "weights", "m", "model.json");
  const line = `164 layers from ${shared}; resuming (${join(root, "data", "runs", "x")})`;
  assert.equal(
    relativePaths(line),
    "164 layers from ../shared/weights/m/model.json; resuming (data/runs/x)",
  );
  assert.equal(relativePaths("/tmp/a.tsv: bad, a/b stays"), "/tmp/a.tsv: bad, a/b stays");
});
