/**
 * The command line: no argument runs the bridge; `--help`, `--version` and `--check` answer and
 * exit; `--backfill PERIOD` re-indexes a period from Kafka and `--replay-dead-letters` sends the
 * dead letters through again, each then exiting. Pure: the texts are built from the settings
 * table (`VARIABLES`) that the README's configuration section is generated from, so the two
 * never disagree.
 *
 * @example
 * ```ts
 * parseCommand(["--check"]); // "check"
 * parseCommand([]); // "run"
 * ```
 */
import { DURATION_EXPECTED, parseDuration, type Variable } from "../config/parse.ts";
import { parsePeriod, type Period } from "./backfill_plan.ts";
import { UsageError } from "./usage_error.ts";

export { UsageError } from "./usage_error.ts";

/** `--backfill PERIOD [--margin DURATION] [--partial]`: re-index a period from what Kafka holds. */
export interface BackfillCommand {
  backfill: Period;
  /** How long after the period's end its flows may have reached Kafka; `FLOW_TIME_MAX_AGE` when absent. */
  marginMs?: number;
  /** Rebuild what Kafka still holds when it no longer holds the period's start. */
  partial: boolean;
}

/** `--replay-dead-letters [--reason REASON] [--source-topic TOPIC]`: send the dead letters through again. */
export interface ReplayCommand {
  replayDeadLetters: true;
  /** Only the letters of this `dlq.reason`. */
  reason?: string;
  /** Only the letters of this source topic (one of `KAFKA_TOPIC`). */
  sourceTopic?: string;
}

export type Command = "run" | "help" | "version" | "check" | BackfillCommand | ReplayCommand;

const COMMANDS: Record<string, Command> = {
  "--help": "help",
  "-h": "help",
  "--version": "version",
  "-V": "version",
  "--check": "check",
};

/**
 * The one command the arguments ask for; throws {@linkcode UsageError} on anything else. A
 * leading `--` is dropped: `deno task start -- --check` passes it on.
 */
export function parseCommand(args: readonly string[]): Command {
  if (args[0] === "--") args = args.slice(1);
  if (args.length === 0) return "run";
  if (args[0] === "--backfill") return parseBackfill(args.slice(1));
  if (args[0] === "--replay-dead-letters") return parseReplay(args.slice(1));
  const command = COMMANDS[args[0]];
  if (command === undefined) throw new UsageError(args[0]);
  if (args.length > 1) throw new UsageError(args[1]);
  return command;
}

function parseBackfill(args: readonly string[]): BackfillCommand {
  const [period, ...options] = args;
  if (period === undefined || period.startsWith("--")) {
    throw new UsageError("--backfill", "a period: --backfill 2026-11-24, or --backfill START..END");
  }
  const command: BackfillCommand = { backfill: parsePeriod(period), partial: false };
  for (let i = 0; i < options.length; i++) {
    if (options[i] === "--partial") command.partial = true;
    else if (options[i] === "--margin") {
      const value = options[++i] ?? "";
      command.marginMs = parseDuration(value);
      if (command.marginMs === undefined) throw new UsageError(`--margin ${value}`.trim(), DURATION_EXPECTED);
    } else throw new UsageError(options[i]);
  }
  return command;
}

/** A `dlq.reason` as the bridge writes them (Elasticsearch's error types, the decoder's reasons): a word. */
const REASON = /^[A-Za-z0-9_]+$/;

function parseReplay(options: readonly string[]): ReplayCommand {
  const command: ReplayCommand = { replayDeadLetters: true };
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    if (option !== "--reason" && option !== "--source-topic") throw new UsageError(option);
    const field = option === "--reason" ? "reason" : "sourceTopic";
    if (command[field] !== undefined) throw new UsageError(option, `${option} once`);
    const value = options[++i] ?? "";
    const valid = field === "reason" ? REASON.test(value) : value !== "" && !value.startsWith("--");
    if (!valid) {
      throw new UsageError(
        `${option} ${value}`.trim(),
        field === "reason" ? "a dlq.reason, e.g. --reason document_parsing_exception" : "a topic of KAFKA_TOPIC",
      );
    }
    command[field] = value;
  }
  return command;
}

/** Markdown as a terminal shows it: code spans and emphasis unmarked, links as their text. */
function plain(markdown: string): string {
  return markdown.replace(/\[([^\]]+)\]\([^)]+\)/g, "$1").replace(/`([^`]*)`/g, "$1").replace(/\*([^*]+)\*/g, "$1");
}

function wrap(text: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines;
}

function defaultText(value: string): string {
  if (value === "(required)") return "required";
  if (value === "(none)") return "no default";
  return `default: ${plain(value)}`;
}

/** `--help`: what the bridge does, its commands, and every setting with its default and meaning. */
export function helpText(name: string, variables: readonly Variable[]): string {
  const lines = [
    `${name}: pmacct's JSON flow records from Kafka into daily Elasticsearch or OpenSearch indices.`,
    "",
    "Usage:",
    `  ${name}              run the bridge`,
    `  ${name} --check      check the settings, Kafka and Elasticsearch, print what was found, exit:`,
    `  ${" ".repeat(name.length)}              0 all good, 1 a server failed a check, 2 a setting is invalid`,
    `  ${name} --backfill PERIOD [--margin DURATION] [--partial]`,
    `  ${" ".repeat(name.length)}              re-index PERIOD (2026-11-24, or 2026-11-24T10:00Z..2026-11-24T12:00Z)`,
    `  ${" ".repeat(name.length)}              from what Kafka holds, same indices and ids, beside running bridges`,
    `  ${name} --replay-dead-letters [--reason REASON] [--source-topic TOPIC]`,
    `  ${" ".repeat(name.length)}              send the dead letters through again, under their records' ids; a second`,
    `  ${" ".repeat(name.length)}              run takes only letters written since`,
    `  ${name} --version    print the versions of the bridge, Deno and the Kafka and search clients`,
    `  ${name} --help       print this`,
    "",
    "Settings are read from the environment and from a .env file in the working directory (the",
    "environment wins):",
  ];
  for (const variable of variables) {
    lines.push("", `  ${variable.name}   (${defaultText(variable.default)})`);
    lines.push(...wrap(plain(variable.meaning), 100, "      "));
  }
  lines.push("", "Metrics, liveness and readiness: http://<host>:<PROMETHEUS_CLIENT_PORT>/metrics, /healthz, /readyz.");
  return lines.join("\n");
}

/** The README's configuration table, row for row from the same settings. */
export function settingsTable(variables: readonly Variable[]): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  return [
    "| Variable | Default | Meaning |",
    "| --- | --- | --- |",
    ...variables.map((variable) => `| \`${variable.name}\` | ${cell(variable.default)} | ${cell(variable.meaning)} |`),
  ].join("\n");
}

/** The pinned version of an npm import, from its specifier (`npm:kafkajs@2.2.4` -> `2.2.4`). */
export function pinnedVersion(specifier: string | undefined): string {
  return /@(\d[^/@]*)\/?$/.exec(specifier ?? "")?.[1] ?? "unknown";
}
