/** Every benchmark is a command like the tasks: usage on --help, one line for a bad option, and
 * neither measures, decodes nor writes anything first. */
import assert from "node:assert/strict";
import { decode } from "./fixtures.ts";

const tasks = Object.entries(
  JSON.parse(await Deno.readTextFile("deno.json")).tasks as Record<string, string>,
).filter(([name]) => name.startsWith("bench:"));

Deno.test("bench: every task prints its usage on --help and refuses an unknown option", async () => {
  assert.ok(tasks.length >= 8, tasks.map(([n]) => n).join(", "));
  const scripts = [...tasks.map(([, command]) => command.split(" ").at(-1)!), "bench/matmul.ts"];
  for (const script of scripts) {
    const run = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
    const [help, bogus] = await Promise.all([run("--help"), run("--bogus", "1")]);
    assert.equal(help.code, 0, `${script} --help:\n${decode(help.stderr)}`);
    assert.match(decode(help.stdout), /^Usage: /, `${script} --help`);
    assert.equal(decode(help.stderr), "", `${script} --help did nothing else`);
    assert.equal(bogus.code, 2, `${script} --bogus:\n${decode(bogus.stderr)}`);
    assert.equal(
      decode(bogus.stderr).trim(),
      "error: Unknown option '--bogus' (see --help)",
      script,
    );
  }
});

Deno.test("bench: a bench stopped by a signal ends the job it started", async () => {
  const dir = await Deno.makeTempDir();
  const pidFile = `${dir}/child.pid`;
  try {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      await Deno.remove(pidFile).catch(() => {});
      const bench = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "test/fixtures/bench_child.ts", pidFile],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let pid = 0;
      for (let i = 0; i < 200 && !pid; i++) {
        await new Promise((r) => setTimeout(r, 50));
        pid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim());
      }
      assert.ok(pid > 0, "the child started");
      bench.kill(signal);
      const status = await bench.status;
      assert.ok(!status.success, `${signal}: the bench ended by the signal`);
      await bench.stderr.cancel();
      let alive = true;
      for (let i = 0; i < 100 && alive; i++) {
        // Gone, or a zombie (ended, not yet reaped by its new parent).
        const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
        alive = stat !== "" && stat.split(") ")[1]?.[0] !== "Z";
        if (alive) await new Promise((r) => setTimeout(r, 50));
      }
      if (alive) Deno.kill(pid, "SIGKILL");
      assert.ok(!alive, `${signal}: the child ${pid} outlived its bench`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
