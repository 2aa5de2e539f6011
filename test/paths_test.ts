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
  // A path at the file system's root is shorter absolute from wherever the project is cloned.
  assert.equal(relativePaths("/a.tsv: bad, a/b stays"), "/a.tsv: bad, a/b stays");
});
