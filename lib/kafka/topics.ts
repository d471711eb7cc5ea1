/**
 * The topics the bridge needs before it consumes: the source topic must exist (the bridge waits
 * for it rather than letting a consumer create it, or fail, on brokers with
 * `auto.create.topics.enable=false`), and the dead-letter topic is created where the bridge may,
 * large enough for any message of the source topic.
 */
import { type Admin, ConfigResourceTypes, type Kafka } from "kafkajs";
import type { KafkaConfig } from "../config.ts";
import type { Health } from "../health.ts";
import type { Logger } from "../log.ts";
import { reportKafkaFailure, reportKafkaReached, withAdmin } from "./client.ts";

const TOPIC_POLL_MS = 2000;

/**
 * Resolves once the source topic exists, saying "topic X does not exist yet; waiting" (and
 * failing `kafka_topic`) while it does not; Kafka being unreachable is reported as that.
 */
export async function waitForTopic(
  kafka: Kafka,
  config: KafkaConfig,
  health: Health,
  stopping: () => boolean,
): Promise<void> {
  let wait = TOPIC_POLL_MS;
  while (!stopping()) {
    try {
      const topics = await withAdmin(kafka, (admin) => admin.listTopics());
      reportKafkaReached(health);
      if (topics.includes(config.topic)) {
        health.pass("kafka_topic");
        return;
      }
      health.fail("kafka_topic", `topic ${config.topic} does not exist yet; waiting`, {
        brokers: config.brokers.join(","),
      });
      wait = TOPIC_POLL_MS;
    } catch (error) {
      reportKafkaFailure(health, error, config);
      wait = Math.min(10_000, wait * 2);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

/** The source topic's `max.message.bytes` (its own, or the broker default it inherits). */
async function maxMessageBytes(admin: Admin, topic: string): Promise<string | undefined> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ["max.message.bytes"] }],
  });
  return described.resources[0]?.configEntries.find((entry) => entry.configName === "max.message.bytes")?.configValue;
}

/** How often a missing dead-letter topic that the bridge may not create is looked for again. */
const DEAD_LETTER_TOPIC_RECHECK_MS = 30_000;

/**
 * Creates the dead-letter topic if it is missing, with the source topic's `max.message.bytes`
 * (a dead letter carries a source message whole). Where the bridge may not, says so now (and
 * fails `dead_letter_topic`) rather than at the first dead letter, and looks again every 30 s
 * until the topic is there (created by an operator, say).
 */
export async function ensureDeadLetterTopic(
  kafka: Kafka,
  config: KafkaConfig,
  health: Health,
  log: Logger,
): Promise<void> {
  if (config.deadLetterTopic === undefined || await createDeadLetterTopic(kafka, config, health, log)) return;
  const timer = setTimeout(() => ensureDeadLetterTopic(kafka, config, health, log), DEAD_LETTER_TOPIC_RECHECK_MS);
  Deno.unrefTimer(timer);
}

/** One try; `true` when the topic exists now. */
async function createDeadLetterTopic(
  kafka: Kafka,
  config: KafkaConfig,
  health: Health,
  log: Logger,
): Promise<boolean> {
  const topic = config.deadLetterTopic!;
  try {
    await withAdmin(kafka, async (admin) => {
      if ((await admin.listTopics()).includes(topic)) return;
      const bytes = await maxMessageBytes(admin, config.topic);
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{
          topic,
          configEntries: bytes === undefined ? [] : [{ name: "max.message.bytes", value: bytes }],
        }],
      });
      log.info("dead-letter topic created", { topic, "max.message.bytes": bytes });
    });
    health.pass("dead_letter_topic");
    return true;
  } catch (error) {
    const message = (error as Error).message;
    // Another copy of the bridge created it meanwhile.
    if (/already exists/i.test(message)) {
      health.pass("dead_letter_topic");
      return true;
    }
    health.fail(
      "dead_letter_topic",
      `dead-letter topic ${topic} does not exist and the bridge could not create it (${message}): create it with max.message.bytes no smaller than ${config.topic}'s, or allow the bridge to`,
    );
    return false;
  }
}
