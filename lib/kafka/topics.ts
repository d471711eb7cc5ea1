/**
 * The topics the bridge needs before it consumes: the source topic must exist (the bridge waits
 * for it rather than letting a consumer create it, or fail, on brokers with
 * `auto.create.topics.enable=false`), and the dead-letter topic is created where the bridge may,
 * large enough for any message of the source topic.
 */
import { type Admin, ConfigResourceTypes, type Kafka } from "kafkajs";
import type { KafkaConfig } from "../config/mod.ts";
import { deadLetterSources } from "../config/kafka.ts";
import type { Health } from "../runtime/health.ts";
import type { Logger } from "../runtime/log.ts";
import { reportKafkaFailure, reportKafkaReached, withAdmin } from "./client.ts";

const TOPIC_POLL_MS = 2000;

/**
 * Resolves once every source topic exists, saying "topic X does not exist yet; waiting" (and
 * failing `kafka_topic`) while one does not; Kafka being unreachable is reported as that. Gives
 * the cluster's id (`undefined` from a broker too old to have one, or when stopping first).
 */
export async function waitForTopic(
  kafka: Kafka,
  config: KafkaConfig,
  health: Health,
  stopping: () => boolean,
): Promise<string | undefined> {
  let wait = TOPIC_POLL_MS;
  while (!stopping()) {
    try {
      const { topics, clusterId } = await withAdmin(kafka, async (admin) => ({
        topics: await admin.listTopics(),
        clusterId: (await admin.describeCluster()).clusterId,
      }));
      const existing = new Set(topics);
      reportKafkaReached(health);
      const missing = config.topics.filter((topic) => !existing.has(topic));
      if (missing.length === 0) {
        health.pass("kafka_topic");
        return clusterId ?? undefined;
      }
      const names = missing.length === 1 ? `topic ${missing[0]} does` : `topics ${missing.join(", ")} do`;
      health.fail("kafka_topic", `${names} not exist yet; waiting`, { brokers: config.brokers.join(",") });
      wait = TOPIC_POLL_MS;
    } catch (error) {
      reportKafkaFailure(health, error, config);
      wait = Math.min(10_000, wait * 2);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** The largest `max.message.bytes` of the source topics (their own, or the broker default they inherit). */
async function maxMessageBytes(admin: Admin, topics: string[]): Promise<string | undefined> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ["max.message.bytes"] })),
  });
  const sizes = described.resources.flatMap((resource) =>
    resource.configEntries.filter((entry) => entry.configName === "max.message.bytes").map((entry) => entry.configValue)
  );
  return sizes.length === 0 ? undefined : String(Math.max(...sizes.map(Number)));
}

/** How often a missing dead-letter topic that the bridge may not create is looked for again. */
const DEAD_LETTER_TOPIC_RECHECK_MS = 30_000;

/**
 * Creates each dead-letter topic that is missing, with the largest `max.message.bytes` of the
 * source topics that send to it (a dead letter carries a source message whole). Where the bridge
 * may not, says so now (and fails `dead_letter_topic`) rather than at the first dead letter, and
 * looks again every 30 s until the topics are there (created by an operator, say).
 */
export async function ensureDeadLetterTopics(
  kafka: Kafka,
  config: KafkaConfig,
  health: Health,
  log: Logger,
): Promise<void> {
  const problems: string[] = [];
  for (const [topic, sources] of deadLetterSources(config)) {
    const problem = await createDeadLetterTopic(kafka, topic, sources, log);
    if (problem !== undefined) problems.push(problem);
  }
  if (problems.length === 0) {
    health.pass("dead_letter_topic");
    return;
  }
  health.fail("dead_letter_topic", problems.join("; "));
  const timer = setTimeout(() => ensureDeadLetterTopics(kafka, config, health, log), DEAD_LETTER_TOPIC_RECHECK_MS);
  Deno.unrefTimer(timer);
}

/** One try; what is wrong, or `undefined` when the topic exists now. */
async function createDeadLetterTopic(
  kafka: Kafka,
  topic: string,
  sources: string[],
  log: Logger,
): Promise<string | undefined> {
  try {
    await withAdmin(kafka, async (admin) => {
      if ((await admin.listTopics()).includes(topic)) return;
      const bytes = await maxMessageBytes(admin, sources);
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic,
          configEntries: bytes === undefined ? [] : [{ name: "max.message.bytes", value: bytes }],
        }],
      });
      log.info("dead-letter topic created", { topic, "max.message.bytes": bytes, sources: sources.join(",") });
    });
    return undefined;
  } catch (error) {
    const message = (error as Error).message;
    // Another copy of the bridge created it meanwhile.
    if (/already exists/i.test(message)) return undefined;
    return `dead-letter topic ${topic} does not exist and the bridge could not create it (${message}): create it with max.message.bytes no smaller than ${
      sources.join(", ")
    }'s, or allow the bridge to`;
  }
}
