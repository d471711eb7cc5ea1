/** Paths to the shared, read-only pmacct fixtures and helpers to read them. */
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The read-only `shared/` folder that sits beside the clone (as in CI); override with `PMACCT_SHARED`. */
export const SHARED = Deno.env.get("PMACCT_SHARED") ?? `${REPO_ROOT}../shared`;
export const FIXTURES = `${SHARED}/fixtures`;

/** Every `output-flow-00.json` and Debian fixture file, with its records (one JSON object a line). */
export function fixtureRecordFiles(): Array<{ path: string; lines: string[] }> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".json")) files.push(path);
    }
  };
  walk(FIXTURES);
  return files.sort().map((path) => ({
    path,
    lines: Deno.readTextFileSync(path).split("\n").filter((line) => line.trim() !== ""),
  }));
}
