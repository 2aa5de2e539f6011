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
