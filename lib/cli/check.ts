/**
 * `--check`: a preflight before a deploy. It asks Kafka and the search cluster what the bridge
 * would ask them at start (brokers, topic, group; server, version, template) once, without
 * retrying and without writing anything, and reports each finding in one line. Failures are
 * worded by the same classifiers that fill `/readyz`, so the check says what the bridge would.
 */
import type { Admin } from "kafkajs";
import type { Config } from "../config/mod.ts";
import { deadLetterSources } from "../config/kafka.ts";
import { openService, templateFor } from "../elastic/connect.ts";
import { ELASTIC_CHECKS, ElasticStatus } from "../elastic/status.ts";
import { Health } from "../runtime/health.ts";
import { classifyKafkaFailure, createKafka, withAdmin } from "../kafka/client.ts";
import { Logger } from "../runtime/log.ts";
import { createMetrics } from "../runtime/metrics.ts";
import { describeServer } from "../elastic/search_server.ts";
import type { Settings } from "../config/settings.ts";
import type { SearchError } from "../elastic/transport.ts";

/** One line of the report. */
export interface Finding {
  subject: string;
  ok: boolean;
  detail: string;
}

/** A readiness problem as a finding: what is wrong, without the running bridge's "retrying". */
function failure(subject: string, problem: string, cause?: string): Finding {
  return { subject, ok: false, detail: problem.replace(/; retrying$/, "") + (cause ? ` (${cause})` : "") };
}

/** The report as printed, and the exit status: 0 when every finding is good, else 1. */
export function formatFindings(findings: readonly Finding[]): { text: string; status: 0 | 1 } {
  const width = Math.max(...findings.map((finding) => finding.subject.length));
  const lines = findings.map((finding) =>
    `${finding.ok ? "ok  " : "FAIL"}  ${finding.subject.padEnd(width)}  ${finding.detail}`
  );
  const failures = findings.filter((finding) => !finding.ok).length;
  lines.push(failures === 0 ? "ready to run" : `${failures} check${failures === 1 ? "" : "s"} failed`);
  return { text: lines.join("\n"), status: failures === 0 ? 0 : 1 };
}

async function kafkaFindings(admin: Admin, config: Config["kafka"]): Promise<Finding[]> {
  const cluster = await admin.describeCluster();
  const findings: Finding[] = [{
    subject: "kafka",
    ok: true,
    detail:
      `${cluster.brokers.length} broker${cluster.brokers.length === 1 ? "" : "s"} (cluster ${cluster.clusterId}) ` +
      `via ${config.brokers.join(",")}`,
  }];
  const existing = new Set(await admin.listTopics());
  const present = config.topics.filter((topic) => existing.has(topic));
  const { topics: metadata } = present.length > 0
    ? await admin.fetchTopicMetadata({ topics: present })
    : { topics: [] };
  for (const topic of config.topics) {
    const partitions = metadata.find((candidate) => candidate.name === topic)?.partitions.length;
    findings.push(
      partitions === undefined
        ? { subject: "kafka topic", ok: false, detail: `topic ${topic} does not exist` }
        : { subject: "kafka topic", ok: true, detail: `${topic}: ${partitions} partitions` },
    );
  }
  if (present.length > 0) {
    const { groups: [group] } = await admin.describeGroups([config.groupId]);
    const offsets = await admin.fetchOffsets({ groupId: config.groupId, topics: present });
    const partitions = offsets.flatMap((topic) => topic.partitions);
    const committed = partitions.filter((partition) => Number(partition.offset) >= 0).length;
    findings.push({
      subject: "kafka group",
      ok: true,
      detail: `${config.groupId}: ${group.state === "Dead" ? "new" : group.state}, ${group.members.length} members, ` +
        `offsets committed on ${committed} of ${partitions.length} partitions`,
    });
  }
  for (const [deadLetterTopic] of deadLetterSources(config)) {
    findings.push({
      subject: "dead letters",
      ok: true,
      detail: existing.has(deadLetterTopic)
        ? `${deadLetterTopic} exists`
        : `${deadLetterTopic} does not exist yet; the bridge creates it at start`,
    });
  }
  return findings;
}

/** Runs every check and returns its findings; never throws for a server's failure. */
export async function runChecks(settings: Settings): Promise<Finding[]> {
  const { config } = settings;
  const quiet = new Logger("error", () => {});
  const findings: Finding[] = [{
    subject: "settings",
    ok: true,
    detail: `valid: topics ${config.kafka.topics.join(",")}, group ${config.kafka.groupId}, ` +
      `indices ${config.elastic.indexPrefix}-yyyy-MM-dd, timestamps from ${config.timestampSource}`,
  }];

  const kafka = createKafka(config.kafka, settings.kafkaTls, quiet);
  try {
    findings.push(...await withAdmin(kafka, (admin) => kafkaFindings(admin, config.kafka)));
  } catch (error) {
    const { problem } = classifyKafkaFailure(error, config.kafka);
    findings.push(failure("kafka", problem, (error as Error).message));
  }

  const health = new Health(quiet, { ...ELASTIC_CHECKS, index_template: false });
  const status = new ElasticStatus(health, createMetrics(), config.elastic.nodes);
  try {
    const service = await openService({ config: config.elastic, pem: settings.elasticTls, health, status });
    try {
      findings.push({
        subject: "elasticsearch",
        ok: true,
        detail: `${describeServer(service.server)} at ${config.elastic.nodes.join(",")}`,
      });
      const { template } = templateFor(config.elastic, settings.templateFile, service.server);
      try {
        await service.simulateIndexTemplate(template);
        findings.push({
          subject: "index template",
          ok: true,
          detail:
            `${config.elastic.indexTemplateFile} accepted for ${config.elastic.indexPrefix}-* (simulated, nothing stored)`,
        });
      } catch (error) {
        findings.push(
          failure("index template", `${config.elastic.indexTemplateFile} refused`, (error as SearchError).message),
        );
      }
    } finally {
      await service.close();
    }
  } catch (error) {
    const problems = Object.values(health.report().problems);
    findings.push(failure("elasticsearch", problems.length > 0 ? problems.join("; ") : (error as Error).message));
  }
  return findings;
}
