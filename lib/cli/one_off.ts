/**
 * The one-off runs (`--backfill PERIOD`, `--replay-dead-letters`), told apart in one place: the
 * settings each reads with, the source topics it waits for, and its preparation. Both run the
 * bridge's usual parts over planned ranges in a group of their own, then exit.
 */
import type { Config } from "../config/mod.ts";
import { backfillConfig, type BackfillParts, prepareBackfill } from "./backfill.ts";
import type { BackfillCommand, ReplayCommand } from "./command.ts";
import type { OneOffRun } from "./one_off_run.ts";
import { prepareReplay, replayConfig, replayedSourceTopics } from "./replay.ts";

/** A command that runs once over planned ranges. */
export type OneOffCommand = BackfillCommand | ReplayCommand;

/** The settings the run reads with: its own group (and a replay's dead-letter topics); may throw `ConfigError` or `UsageError`. */
export function oneOffConfig(config: Config, command: OneOffCommand): Config {
  return "backfill" in command ? backfillConfig(config) : replayConfig(config, command);
}

/** The source topics whose existence the run waits for: a replay's replayed ones, else every one of `KAFKA_TOPIC`. */
export function sourceTopicsOf(config: Config, command: OneOffCommand | undefined): string[] {
  return command !== undefined && "replayDeadLetters" in command
    ? replayedSourceTopics(config, command)
    : config.kafka.topics;
}

/**
 * Plans the run and plugs its stages into the pipeline; exit status 1 instead when it cannot run.
 * `planned` gets the run as soon as a signal may end it (a backfill's, before its group exists).
 */
export function prepareOneOff(
  command: OneOffCommand,
  parts: BackfillParts,
  planned: (run: OneOffRun) => void,
): Promise<OneOffRun | 1> {
  return "backfill" in command ? prepareBackfill(command, parts, planned) : prepareReplay(command, parts);
}
