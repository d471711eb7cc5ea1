import assert from "node:assert/strict";
import { formatFindings } from "../../lib/cli/check.ts";
import { helpText, parseCommand, pinnedVersion, settingsTable, UsageError } from "../../lib/cli/command.ts";
import { VARIABLES } from "../../lib/config/mod.ts";
import { TABLE_END, TABLE_START } from "../../scripts/settings_table.ts";

Deno.test("the command line: no argument runs, the three flags answer, anything else is refused", () => {
  assert.equal(parseCommand([]), "run");
  assert.equal(parseCommand(["--help"]), "help");
  assert.equal(parseCommand(["-h"]), "help");
  assert.equal(parseCommand(["--version"]), "version");
  assert.equal(parseCommand(["--check"]), "check");
  assert.equal(parseCommand(["--", "--check"]), "check", "deno task start -- --check passes the --");
  assert.throws(() => parseCommand(["--chek"]), UsageError);
  assert.throws(() => parseCommand(["--check", "--help"]), /unknown argument "--help"/);
});

Deno.test("--help lists every setting with its default and meaning, in plain text", () => {
  const help = helpText("pmacct-kafka-elastic", VARIABLES);
  for (const variable of VARIABLES) {
    const at = help.indexOf(`\n  ${variable.name}   (`);
    assert.ok(at >= 0, `${variable.name} missing`);
    const entry = help.slice(at, help.indexOf("\n\n", at + 1));
    const firstWords = variable.meaning.replace(/`/g, "").split(/\s+/).slice(0, 3).join(" ");
    assert.ok(entry.replace(/\s+/g, " ").includes(firstWords), `${variable.name}: meaning missing`);
  }
  assert.match(help, /KAFKA_TOPIC {3}\(required\)/);
  assert.match(help, /KAFKA_CONSUMER_GROUP_ID {3}\(default: kafka2elastic\)/);
  assert.doesNotMatch(help, /`/);
  assert.ok(help.split("\n").every((line) => line.length <= 110), "lines fit a terminal");
});

/** The rows of the README's configuration table, as cells. */
function readmeRows(): string[][] {
  const readme = Deno.readTextFileSync(new URL("../../README.md", import.meta.url));
  const table = readme.slice(readme.indexOf(TABLE_START) + TABLE_START.length, readme.indexOf(TABLE_END));
  return table.trim().split("\n").slice(2).map((row) => row.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
}

Deno.test("the README's configuration table is the settings table (run deno task settings-table)", () => {
  const generated = settingsTable(VARIABLES).split("\n").slice(2).map((row) =>
    row.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim())
  );
  assert.equal(generated.length, VARIABLES.length);
  assert.deepEqual(readmeRows(), generated);
});

Deno.test("versions come from the pinned npm specifiers", () => {
  assert.equal(pinnedVersion("npm:kafkajs@2.2.4"), "2.2.4");
  assert.equal(pinnedVersion("npm:@elastic/elasticsearch@8.19.1"), "8.19.1");
  assert.equal(pinnedVersion("npm:/kafkajs@2.2.4/"), "2.2.4");
  assert.equal(pinnedVersion(undefined), "unknown");
});

Deno.test("the --check report exits 1 when any finding failed, and says how many", () => {
  const good = { subject: "kafka", ok: true, detail: "1 broker" };
  assert.deepEqual(formatFindings([good]), { text: "ok    kafka  1 broker\nready to run", status: 0 });
  const report = formatFindings([good, { subject: "elasticsearch", ok: false, detail: "cannot reach" }]);
  assert.equal(report.status, 1);
  assert.ok(report.text.split("\n").includes("FAIL  elasticsearch  cannot reach"), report.text);
  assert.match(report.text, /1 check failed$/);
});
