/**
 * `--replay-dead-letters`: the dead-letter topics read in a consumer group that lasts, each
 * letter's record sent through the bridge's usual pipeline again under its original id and day
 * (from its `dlq.source.*` headers), and a letter that fails again written back with its new
 * reason. The group keeps how far the replay got: a second run takes only the letters written
 * since. Each filter (`--reason`, `--source-topic`) has a group of its own, so one filter's run
 * never passes over the letters another is to replay.
 */
import type { Kafka } from "kafkajs";
import { type Config, ConfigError } from "../config/mod.ts";
import { partitionKey } from "../delivery/acknowledgement.ts";
import { withAdmin } from "../kafka/client.ts";
import type { Metrics } from "../runtime/metrics.ts";
import type { ReplayCommand } from "./command.ts";
import { commitStarts, counterTotal, type OneOffParts, type OneOffRun, oneOffRun, type RunEnd } from "./one_off_run.ts";
import { cutWhileRead, type PartitionRange, type ReadPlan } from "./range_progress.ts";
import { ANY_TIME, RangeAdmission } from "./range_admission.ts";
import { LetterOrigin } from "./letter_origin.ts";
import { UsageError } from "./usage_error.ts";

/**
 * The source topics whose letters the command replays: `--source-topic`'s, or every one of
 * `KAFKA_TOPIC`. Read from the routes to the dead-letter topics, which the replay's settings keep.
 */
export function replayedSourceTopics(config: Config, command: ReplayCommand): string[] {
  const topics = [...config.kafka.deadLetterTopics.keys()];
  if (command.sourceTopic === undefined) return topics;
  if (!topics.includes(command.sourceTopic)) {
    throw new UsageError(`--source-topic ${command.sourceTopic}`, `a topic of KAFKA_TOPIC (${topics.join(", ")})`);
  }
  return [command.sourceTopic];
}

/**
 * The settings of a replay: the dead-letter topics of the replayed source topics as the topics
 * read, in the group `<KAFKA_CONSUMER_GROUP_ID>.replay-dead-letters` (with its filter), from the
 * earliest letter held on the first run. The routes to the dead-letter topics stay, so that a
 * letter failing again goes back where it came from. `KAFKA_DLQ_TOPIC=off` has nothing to replay:
 * a {@linkcode ConfigError}; an unknown `--source-topic`, a {@linkcode UsageError}.
 */
export function replayConfig(config: Config, command: ReplayCommand): Config {
  const routes = config.kafka.deadLetterTopics;
  if (routes.size === 0) {
    throw new ConfigError("KAFKA_DLQ_TOPIC", "dead-letter topics for --replay-dead-letters", "off");
  }
  const topics = [...new Set(replayedSourceTopics(config, command).map((topic) => routes.get(topic)!))];
  const filter = (command.reason === undefined ? "" : `.reason.${command.reason}`) +
    (command.sourceTopic === undefined ? "" : `.topic.${command.sourceTopic}`);
  const groupId = `${config.kafka.groupId}.replay-dead-letters${filter}`;
  return { ...config, kafka: { ...config.kafka, topics, groupId, fromBeginning: true } };
}

/**
 * What a replay reads, in the group of {@linkcode replayConfig}, and what it found of the group's
 * commits.
 */
export interface ReplayPlan extends ReadPlan {
  /** Per partition, letters Kafka deleted after the group's commit, before any run replayed them. */
  deleted: string[];
  /** Per partition, a commit past the topic's end (a topic made again): read from its first letter. */
  stale: string[];
  /** The group has no commit: a first run, or Kafka expired an idle group's offsets. */
  fresh: boolean;
}

/**
 * The range of one partition: from the group's commit to the end offset at the start. Without a
 * commit, or with one the topic no longer has (past its end), from the first letter held, as the
 * consumer resumes there; a commit before that names the letters Kafka deleted unreplayed.
 */
export function replayRange(
  topic: string,
  partition: number,
  { low, high, commit }: { low: number; high: number; commit: number },
): { range: PartitionRange; deleted?: string; stale?: string } {
  const range = { topic, partition, end: high };
  if (commit > high) {
    return {
      range: { ...range, start: low },
      stale: `${topic}:${partition} committed at ${commit}, past its end ${high}: replaying from its first letter`,
    };
  }
  if (commit >= 0 && commit < low) {
    return {
      range: { ...range, start: low },
      deleted: `${topic}:${partition} letters at offsets ${commit}-${low - 1}`,
    };
  }
  return { range: { ...range, start: commit < 0 ? low : commit } };
}

/**
 * What the replay reads: of each partition of its topics, from the group's committed offset (the
 * first letter held on a first run) to the end offset at its start. Where there is no commit, or
 * it names letters Kafka deleted, or lies past the end, the group is moved to the range's start. A
 * sentence instead when it cannot run: a topic is missing, or the group has members (another
 * replay of it runs now, and would share the partitions out).
 */
export async function planReplay(kafka: Kafka, config: Config): Promise<ReplayPlan | string> {
  const { groupId, topics } = config.kafka;
  return await withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) return `dead-letter topic ${missing.join(", ")} does not exist: no letters to replay`;
    const [group] = (await admin.describeGroups([groupId])).groups;
    if (group !== undefined && group.members.length > 0) {
      return `consumer group ${groupId} has members: another replay with the same filter is running, or one was ` +
        `killed less than KAFKA_SESSION_TIMEOUT ago`;
    }
    const committed = await admin.fetchOffsets({ groupId, topics });
    const plan: ReplayPlan = { groupId, ranges: [], deleted: [], stale: [], fresh: true };
    const moved: PartitionRange[] = [];
    for (const topic of [...topics].sort()) {
      const ofTopic = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
      const offsets = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
      for (const { partition, low, high } of offsets) {
        const commit = Number(ofTopic.find((entry) => entry.partition === partition)?.offset ?? -1);
        if (commit >= 0) plan.fresh = false;
        const { range, deleted, stale } = replayRange(topic, partition, {
          low: Number(low),
          high: Number(high),
          commit,
        });
        plan.ranges.push(range);
        if (deleted) plan.deleted.push(deleted);
        if (stale) plan.stale.push(stale);
        if (deleted || stale || commit < 0) moved.push(range);
      }
    }
    // The group resumes where the run reads from: a loss is said once, and a stale commit never
    // stands for progress (nor, once the topic grows past it, skips letters). A partition without
    // a commit starts at its planned start too, not at a reset: letters Kafka deletes before the
    // consumer reads them are then a move it sees and names, never a start already past them.
    await commitStarts(admin, groupId, moved);
    return plan;
  });
}

/** The closing line's counts. */
export async function replaySummary(
  origin: Pick<LetterOrigin, "skipped">,
  metrics: Metrics,
): Promise<Record<string, number>> {
  const replayed = await counterTotal(metrics.samples) + await counterTotal(metrics.decodeErrors);
  return {
    letters_read: replayed + origin.skipped,
    indexed: await counterTotal(metrics.indexed),
    dead_lettered_again: await counterTotal(metrics.deadLetters),
    skipped: origin.skipped,
  };
}

/** What a replay drives: the bridge's parts, and the settings of {@linkcode replayConfig}. */
export interface ReplayParts extends OneOffParts {
  config: Config;
}

/** The replay's filter, for the log. */
const filterText = ({ reason, sourceTopic }: ReplayCommand) =>
  [reason && `reason ${reason}`, sourceTopic && `source topic ${sourceTopic}`].filter(Boolean).join(", ") || "none";

/**
 * Plans the replay and makes the pipeline one, before the source starts. Gives exit status 1
 * instead when it cannot run ({@linkcode planReplay}).
 */
export async function prepareReplay(command: ReplayCommand, parts: ReplayParts): Promise<OneOffRun | 1> {
  const { kafka, config, pipeline, metrics, log } = parts;
  const plan = await planReplay(kafka, config);
  if (typeof plan === "string") {
    log.error(`cannot replay the dead letters: ${plan}`);
    return 1;
  }
  if (plan.fresh) {
    log.warn(
      "the replay's group has no committed offsets: a first run, or Kafka expired them (an idle group keeps them " +
        "offsets.retention.minutes, 7 days by default); replaying every letter held",
      { group: plan.groupId },
    );
  }
  for (const stale of plan.stale) log.warn(`the replay's group has a commit the topic no longer has: ${stale}`);
  const origin = new LetterOrigin({
    sourceTopics: new Set(replayedSourceTopics(config, command)),
    reason: command.reason,
  }, log);
  const admission = new RangeAdmission({
    period: ANY_TIME,
    endOffsets: new Map(plan.ranges.map(({ topic, partition, end }) => [partitionKey(topic, partition), end])),
    keepPastEnd: true,
  });
  pipeline.plug({ origin, admission });
  const end = async ({ interrupted, shutdownStatus, progress }: RunEnd) => {
    const summary = await replaySummary(origin, metrics);
    const cut = [...plan.deleted, ...cutWhileRead(plan, admission, pipeline), ...progress?.deleted() ?? []];
    if (cut.length > 0) {
      log.error("Kafka deleted dead letters before they were replayed: they are gone", {
        ...summary,
        cut: cut.join("; "),
      });
      return 1;
    }
    if (interrupted) {
      log.error("replay of dead letters interrupted: run it again to replay the rest", summary);
      return 1;
    }
    if (shutdownStatus !== 0) {
      log.error("replay of dead letters done, but its last letters were not all indexed and committed", summary);
      return 1;
    }
    const again = summary.dead_lettered_again;
    if (again > 0) {
      log.warn(`replay of dead letters done; ${again} failed again and went back with their new reason`, summary);
    } else log.info("replay of dead letters done", summary);
    return 0;
  };
  log.info("replay: reading the dead letters in a group of its own", {
    group: plan.groupId,
    filter: filterText(command),
    offsets: plan.ranges.map(({ topic, partition, start, end }) => `${topic}:${partition}:${start}-${end}`).join(" "),
  });
  return oneOffRun(plan, "replay of dead letters", parts, end);
}
