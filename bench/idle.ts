/**
 * Is the machine idle enough for a side-by-side speed ratio to mean anything? A one-thread tfjs
 * barely notices a busy core; PyTorch's OpenMP threads collapse (~4x) when one core is taken, so
 * a busy machine flatters tfjs. This reads Linux's /proc: the 1-minute load average, the busiest
 * other processes over a short sample, and, across the whole benchmark, the CPU time every other
 * process took (the machine's busy time less this process and its waited-for children).
 */

const TICK_FIELDS = { utime: 13, stime: 14, cutime: 15, cstime: 16 } as const;

/** CPU share of the machine (0..1) other processes may use before a ratio is called invalid. */
export const IDLE_LIMIT = 0.05;
/** The 1-minute load average above which the machine is not idle at the start (wait for it). */
export const LOAD_LIMIT = 0.5;

interface CpuTimes {
  busy: number;
  total: number;
  self: number;
}

async function readCpuTimes(): Promise<CpuTimes> {
  const stat = await Deno.readTextFile("/proc/stat");
  const fields = stat.split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal
  const idle = fields[3] + fields[4]; // idle + iowait
  const self = processTicks(await Deno.readTextFile("/proc/self/stat"), true);
  return { busy: total - idle, total, self };
}

/** utime + stime (and the waited-for children's, with `children`) of a /proc/PID/stat line. */
function processTicks(stat: string, children = false): number {
  // The command name (field 2) may hold spaces; fields are counted after its closing ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const at = (field: number) => Number(rest[field - 2]);
  const own = at(TICK_FIELDS.utime) + at(TICK_FIELDS.stime);
  return children ? own + at(TICK_FIELDS.cutime) + at(TICK_FIELDS.cstime) : own;
}

async function processTable(): Promise<Map<number, { command: string; ticks: number }>> {
  const table = new Map<number, { command: string; ticks: number }>();
  for await (const entry of Deno.readDir("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      table.set(pid, { command, ticks: processTicks(stat) });
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return table;
}

export interface IdleCheck {
  /** 1-minute load average at the start. */
  load1: number;
  /** Other processes' share of the machine's CPU during the sample (0..1). */
  othersShare: number;
  /** The busiest other processes during the sample, as "command (pid) 12% of a core". */
  busiest: string[];
}

/** Samples the machine for `ms` before a benchmark starts. */
export async function checkIdle(ms = 2000): Promise<IdleCheck> {
  const load1 = Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
  const before = await processTable();
  const start = await readCpuTimes();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const end = await readCpuTimes();
  const after = await processTable();
  const ticksPerCore = (ms / 1000) * 100; // USER_HZ is 100 on Linux
  const busiest = [...after].map(([pid, p]) => ({
    pid,
    command: p.command,
    share: (p.ticks - (before.get(pid)?.ticks ?? p.ticks)) / ticksPerCore,
  })).filter((p) => p.share >= 0.01).sort((a, b) => b.share - a.share).slice(0, 3)
    .map((p) => `${p.command} (${p.pid}) ${(100 * p.share).toFixed(0)}% of a core`);
  return { load1, othersShare: othersShare(start, end), busiest };
}

function othersShare(start: CpuTimes, end: CpuTimes): number {
  const total = end.total - start.total;
  const others = (end.busy - start.busy) - (end.self - start.self);
  return total > 0 ? Math.max(0, others / total) : 0;
}

/** Measures what other processes take from now until `stop()`, the benchmark's whole span. */
export async function watchOthers(): Promise<{ stop(): Promise<number> }> {
  const start = await readCpuTimes();
  return { stop: async () => othersShare(start, await readCpuTimes()) };
}

/** One line for the report: the load, and whether the ratios below can be trusted. */
export function describeIdle(before: IdleCheck, during: number): { valid: boolean; line: string } {
  const valid = before.load1 < LOAD_LIMIT && before.othersShare <= IDLE_LIMIT &&
    during <= IDLE_LIMIT;
  const busiest = before.busiest.length ? `; busiest before: ${before.busiest.join(", ")}` : "";
  const line = `load average ${before.load1.toFixed(2)} at the start; other processes took ` +
    `${(100 * before.othersShare).toFixed(1)}% of the CPU before and ${
      (100 * during).toFixed(1)
    }% ` +
    `during the run${busiest}`;
  return { valid, line };
}
