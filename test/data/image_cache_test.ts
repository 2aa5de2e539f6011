import assert from "node:assert/strict";

Deno.test("workers read the image cache without loading sharp's native library", async () => {
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "test/fixtures/worker_libraries.ts"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, stderr.slice(-2000));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(run.stdout)), { vips: false });
});
