/**
 * `deno task settings-table`: writes the README's configuration table from the settings table
 * (`VARIABLES`), the same one `--help` prints, then formats the README. A unit test fails while
 * the two disagree.
 */
import { settingsTable } from "../lib/cli/command.ts";
import { VARIABLES } from "../lib/config/mod.ts";

export const TABLE_START = "<!-- settings table: written by `deno task settings-table` from lib/config -->";
export const TABLE_END = "<!-- end of settings table -->";

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  const readme = Deno.readTextFileSync(path);
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the markers ${TABLE_START} ... ${TABLE_END}`);
  const table = settingsTable(VARIABLES);
  Deno.writeTextFileSync(path, `${readme.slice(0, start + TABLE_START.length)}\n\n${table}\n\n${readme.slice(end)}`);
  const fmt = await new Deno.Command(Deno.execPath(), { args: ["fmt", path.pathname] }).output();
  if (!fmt.success) throw new Error("deno fmt README.md failed");
}
