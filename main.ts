/**
 * pmacct-kafka-elastic: consumes pmacct's JSON flow records from Kafka and bulk-indexes them
 * into daily Elasticsearch (or OpenSearch) indices. This file reads the command and the
 * settings, builds the parts and runs them; the behaviour lives in `lib/`.
 */
import { formatFindings, runChecks } from "./lib/cli/check.ts";
import { helpText, parseCommand, UsageError } from "./lib/cli/command.ts";
import { type OneOffCommand, oneOffConfig } from "./lib/cli/one_off.ts";
import { versionText } from "./lib/cli/version.ts";
import { ConfigError, VARIABLES } from "./lib/config/mod.ts";
import { loadSettings } from "./lib/config/settings.ts";
import { buildBridge } from "./lib/runtime/bridge.ts";
import { run } from "./lib/runtime/run.ts";

/** `step`'s result; a bad argument or setting exits 2, naming it. */
function orExit<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof UsageError) console.error(error.message);
    else if (error instanceof ConfigError) console.error(`configuration error: ${error.message}`);
    else throw error;
    Deno.exit(2);
  }
}

const command = orExit(() => parseCommand(Deno.args));
if (command === "help") {
  console.log(helpText("pmacct-kafka-elastic", VARIABLES));
  Deno.exit(0);
}
if (command === "version") {
  console.log(versionText());
  Deno.exit(0);
}
const settings = orExit(() => loadSettings());
if (command === "check") {
  const { text, status } = formatFindings(await runChecks(settings));
  console.log(text);
  Deno.exit(status);
}
/** `--backfill PERIOD`, `--replay-dead-letters`: the same parts over planned ranges, then exit. */
const oneOff: OneOffCommand | undefined = typeof command === "object" ? command : undefined;
const config = orExit(() => oneOff ? oneOffConfig(settings.config, oneOff) : settings.config);
const bridge = orExit(() => buildBridge(settings, config, oneOff !== undefined));
// A server's answer can show a setting wrong too (a TLS setting the cluster refuses): exit 2 as well.
const status = await run(bridge, oneOff).catch((error): number =>
  orExit(() => {
    throw error;
  })
);
Deno.exit(status);
