import { drained, feed } from "../support/feed.ts";
import assert from "node:assert/strict";
import { BulkWriter } from "../../lib/elastic/bulk_writer.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { type PendingDocument, Pipeline } from "../../lib/delivery/pipeline.ts";
import { bulkActionIds } from "../support/bulk_body.ts";

const NOW = Date.UTC(2026, 11, 1, 12);
const DAY = 86_400_000;

/** A pipeline whose `_bulk` answers 201 at once, with its ids, metrics and log lines. */
function pipelineWith(options: { retentionDays?: number; cluster?: string }) {
  const ids: string[] = [];
  const lines: string[] = [];
  const metrics = createMetrics();
  const log = new Logger("info", (line) => lines.push(line));
  const writer = new BulkWriter<PendingDocument>(
    (body) => {
      const sent = bulkActionIds(body);
      ids.push(...sent);
      return Promise.resolve(sent.map(() => ({ status: 201 })));
    },
    log,
    metrics,
  );
  const pipeline = new Pipeline({
    indexPrefix: "sflow",
    timezone: "UTC",
    timestampSource: "flow",
    flowTimeWindow: { maxAgeMs: 7 * DAY, maxAheadMs: 3_600_000 },
    retentionDays: options.retentionDays,
    maxBatch: 1000,
    maxWaitMs: 60_000,
    maxBuffered: 1000,
    concurrency: 1,
  }, {
    writer,
    deadLetters: { send: () => Promise.resolve() },
    commit: () => Promise.resolve(),
    elasticHealth: () => {},
    log,
    metrics,
    now: () => NOW,
  });
  pipeline.identifySource(options.cluster);
  return { pipeline, ids, lines, metrics };
}

const flow = (time: string, exporter: string) =>
  new TextEncoder().encode(JSON.stringify({ timestamp_start: time, peer_ip_src: exporter, bytes: 1 }));

async function metricValue(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
  return (metric?.values ?? []).reduce((sum, { value }) => sum + value, 0);
}

Deno.test("misdated flows are counted each and logged once per exporter; ids begin with the cluster id", async () => {
  const { pipeline, ids, lines, metrics } = pipelineWith({ cluster: "C1" });
  const messages = [
    flow("2000-01-01 00:00:00", "192.0.2.1"),
    flow("2000-01-01 00:00:00", "192.0.2.1"),
    flow("2040-06-01 00:00:00", "192.0.2.2"),
    flow("2026-12-01 11:00:00", "192.0.2.3"),
  ].map((value, offset) => ({ offset: String(offset), timestamp: String(NOW), value }));
  assert.equal(feed(pipeline, "t", 0, messages), 4);
  assert.equal(await drained(pipeline, 5000), true);
  const time = NOW.toString(36);
  assert.deepEqual(ids, [0, 1, 2, 3].map((offset) => `C1:t:0:${offset}:0:${time}`));
  assert.equal(await metricValue(metrics, "pmacct_bridge_flow_time_refused_total"), 3);
  const refused = lines.filter((line) => line.includes("flow time refused"));
  assert.equal(refused.length, 2, refused.join("\n"));
  assert.match(refused[0], /exporter=192\.0\.2\.1 reason=too_old/);
  assert.match(refused[1], /exporter=192\.0\.2\.2 reason=too_far_ahead/);
});

Deno.test("flows older than ELASTIC_RETENTION are indexed, counted and logged", async () => {
  const { pipeline, ids, lines, metrics } = pipelineWith({ retentionDays: 3 });
  const messages = ["2026-11-27 10:00:00", "2026-11-28 00:00:00", "2026-11-26 23:59:59"].map((time, offset) => ({
    offset: String(offset),
    timestamp: String(NOW),
    value: flow(time, "192.0.2.9"),
  }));
  feed(pipeline, "t", 0, messages);
  assert.equal(await drained(pipeline, 5000), true);
  assert.equal(ids.length, 3, "all indexed");
  const time = NOW.toString(36);
  assert.deepEqual(ids, [0, 1, 2].map((offset) => `t:0:${offset}:0:${time}`), "no cluster id: ids start at the topic");
  assert.equal(await metricValue(metrics, "pmacct_bridge_flows_older_than_retention_total"), 2);
  assert.equal(lines.filter((line) => line.includes("older than ELASTIC_RETENTION")).length, 1);
});
