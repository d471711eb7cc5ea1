/**
 * What a process tree costs the host, read from `/proc`: CPU seconds (user + system, its own
 * and its descendants'), resident memory now, and its peak, sampled over time.
 */

/** Clock ticks per second of `/proc/<pid>/stat` times. */
const TICKS = Number(
  new TextDecoder().decode(new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped" }).outputSync().stdout)
    .trim(),
) || 100;

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** The process and every descendant still running. */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const task of safeReadDir(`/proc/${tree[i]}/task`)) {
      const children = read(`/proc/${tree[i]}/task/${task}/children`) ?? "";
      for (const child of children.trim().split(/\s+/).filter(Boolean)) tree.push(Number(child));
    }
  }
  return tree;
}

function safeReadDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((entry) => entry.name);
  } catch {
    return [];
  }
}

/** CPU seconds used so far: each live process's own, plus what its reaped children used. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) {
    const stat = read(`/proc/${member}/stat`);
    if (stat === undefined) continue;
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks / TICKS;
}

function statusKb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const line = (read(`/proc/${pid}/status`) ?? "").split("\n").find((candidate) => candidate.startsWith(`${field}:`));
  return line === undefined ? 0 : Number(line.split(/\s+/)[1]);
}

/** Resident memory of the tree now, in MB. */
export function rssMb(pid: number): number {
  return processTree(pid).reduce((sum, member) => sum + statusKb(member, "VmRSS"), 0) / 1024;
}

/**
 * Samples the tree's resident memory every `everyMs` until stopped; the peak is the larger of
 * the samples and the kernel's own high-water mark of the root process (`VmHWM`).
 */
export class MemorySampler {
  readonly samples: Array<{ atMs: number; rssMb: number }> = [];
  #peak = 0;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #started = performance.now();

  constructor(private readonly pid: number, everyMs = 100) {
    this.#timer = setInterval(() => this.#sample(), everyMs);
    this.#sample();
  }

  #sample(): void {
    const now = rssMb(this.pid);
    if (now === 0) return;
    this.#peak = Math.max(this.#peak, now, statusKb(this.pid, "VmHWM") / 1024);
    this.samples.push({ atMs: performance.now() - this.#started, rssMb: now });
  }

  /** Stops sampling (call before the process exits) and returns the peak in MB. */
  stop(): number {
    this.#sample();
    clearInterval(this.#timer);
    return this.#peak;
  }
}
