/** Paths to the shared, read-only pmacct fixtures and helpers to read them. */
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const FIXTURES = Deno.env.get("PMACCT_FIXTURES") ?? `${REPO_ROOT}../shared/fixtures`;

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
