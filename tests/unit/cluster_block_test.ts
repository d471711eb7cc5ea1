import assert from "node:assert/strict";
import { BulkRequestError } from "../../lib/elastic/bulk_writer.ts";
import { describeBlocks, parseBlocks } from "../../lib/elastic/block.ts";
import { INDEX_CHECK, IndexCreator } from "../../lib/elastic/indices.ts";
import type { SearchService } from "../../lib/elastic/service.ts";
import { classifyElasticFailure, ELASTIC_CHECKS, ElasticStatus } from "../../lib/elastic/status.ts";
import { toSearchError } from "../../lib/elastic/transport.ts";
import { Health } from "../../lib/runtime/health.ts";
import { buildIndexTemplate } from "../../lib/elastic/index_template.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics, type Metrics } from "../../lib/runtime/metrics.ts";
import {
  BLOCKED_ITEMS,
  CLUSTER_READ_ONLY,
  CLUSTER_READ_ONLY_ALLOW_DELETE_BULK,
  responseError,
} from "../support/cluster_blocks.ts";

const NODES = ["http://127.0.0.1:9200"];

async function gauge(metrics: Metrics, name: string): Promise<number> {
  return (await metrics.registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
}

Deno.test("every block Elasticsearch answers is read back as the index (or cluster) and the block", () => {
  assert.deepEqual(parseBlocks(BLOCKED_ITEMS["index.blocks.write"].error.reason), [{
    index: "sflow-2026-12-01",
    blocks: ["index write (api)"],
    text: BLOCKED_ITEMS["index.blocks.write"].error.reason,
  }]);
  assert.equal(
    describeBlocks(parseBlocks(BLOCKED_ITEMS["index.blocks.read_only_allow_delete"].error.reason)),
    "index sflow-2026-12-01 is blocked: disk usage exceeded flood-stage watermark, index has read-only-allow-delete block",
  );
  assert.equal(
    describeBlocks(parseBlocks(toSearchError(responseError(CLUSTER_READ_ONLY_ALLOW_DELETE_BULK)).message)),
    "the cluster is blocked: cluster read-only / allow delete (api)",
  );
  const two = "index [a] blocked by: [FORBIDDEN/8/index write (api), FORBIDDEN/5/index read-only (api)];" +
    "index [b] blocked by: [FORBIDDEN/8/index write (api)];";
  assert.equal(
    describeBlocks(parseBlocks(two)),
    "index a is blocked: index write (api), index read-only (api); index b is blocked: index write (api)",
  );
  assert.deepEqual(parseBlocks("action [indices:data/write/bulk] is unauthorized for user [pmacct]"), []);
});

Deno.test("a block is classified as a block, never as refused credentials; a missing privilege still is", () => {
  const failures = [
    ...Object.values(BLOCKED_ITEMS).map((item) => ({
      status: item.status,
      type: item.error.type,
      message: item.error.reason,
    })),
    toSearchError(responseError(CLUSTER_READ_ONLY.bulk)),
    toSearchError(responseError(CLUSTER_READ_ONLY.createIndex)),
    toSearchError(responseError(CLUSTER_READ_ONLY_ALLOW_DELETE_BULK)),
  ];
  for (const failure of failures) {
    const { check, problem } = classifyElasticFailure(failure, NODES);
    assert.equal(check, "elasticsearch_block", failure.message);
    assert.match(problem, /is blocked: .*; retrying$/);
    assert.doesNotMatch(problem, /credentials|privilege/);
  }
  assert.equal(
    classifyElasticFailure({
      status: 403,
      type: "cluster_block_exception",
      message: BLOCKED_ITEMS["index.blocks.write"].error.reason,
    }, NODES)
      .problem,
    "index sflow-2026-12-01 is blocked: index write (api); Elasticsearch takes no writes there until the block is lifted; retrying",
  );
  const privilege = toSearchError(responseError({
    error: { type: "security_exception", reason: "action [indices:data/write/bulk] is unauthorized for user [pmacct]" },
    status: 403,
  }));
  assert.equal(classifyElasticFailure(privilege, NODES).check, "elasticsearch_credentials");
});

Deno.test("a block is its own /readyz problem; the cluster stays up, auth_failed 0; a write that meets none clears it", async () => {
  const lines: string[] = [];
  const health = new Health(new Logger("info", (line) => lines.push(line)), { ...ELASTIC_CHECKS });
  const metrics = createMetrics();
  const status = new ElasticStatus(health, metrics, NODES);
  status.succeeded();
  const block = BLOCKED_ITEMS["index.blocks.write"];
  status.bulkHealth(
    new BulkRequestError(`cluster_block_exception: ${block.error.reason}`, undefined, block.error.type),
  );
  const blocked = health.report();
  assert.equal(blocked.ready, false);
  assert.deepEqual(Object.keys(blocked.problems), ["elasticsearch_block"]);
  assert.match(blocked.problems.elasticsearch_block, /^index sflow-2026-12-01 is blocked: index write \(api\)/);
  assert.equal(blocked.checks.elasticsearch, true);
  assert.equal(blocked.checks.elasticsearch_credentials, true);
  assert.equal(await gauge(metrics, "pmacct_bridge_elasticsearch_auth_failed"), 0);
  assert.equal(await gauge(metrics, "pmacct_bridge_elasticsearch_up"), 1);
  assert.equal(await gauge(metrics, "pmacct_bridge_elasticsearch_blocked"), 1);
  assert.equal(lines.filter((line) => line.includes("is blocked")).length, 1, "logged once");
  assert.ok(lines.every((line) => !line.includes("credentials")));

  status.bulkHealth(undefined);
  assert.equal(health.report().ready, true);
  assert.equal(await gauge(metrics, "pmacct_bridge_elasticsearch_blocked"), 0);
  assert.ok(lines.some((line) => line.includes("resolved") && line.includes("elasticsearch_block")));
});

Deno.test("a block refusing an index's creation is passed on as a block, not as a missing create_index privilege", async () => {
  const health = new Health(new Logger("error", () => {}), { [INDEX_CHECK]: true });
  let blocked = true;
  const service = {
    createIndex: () =>
      blocked
        ? Promise.reject(toSearchError(responseError(CLUSTER_READ_ONLY.createIndex)))
        : Promise.resolve("created"),
  } as unknown as SearchService;
  const creator = new IndexCreator(
    service,
    buildIndexTemplate("sflow", { mappings: {}, settings: {} }, 1, 0),
    health,
    new Logger("error", () => {}),
  );
  const failure = await creator.ensure(["sflow-2026-12-02"]).then(() => undefined, (error) => error);
  assert.ok(failure instanceof BulkRequestError);
  assert.equal(failure.type, "cluster_block_exception");
  assert.equal(failure.status, 403);
  assert.equal(
    describeBlocks(parseBlocks(failure.message)),
    "index sflow-2026-12-02 is blocked: cluster read-only (api)",
  );
  assert.equal(health.ok(INDEX_CHECK), true, "no privilege problem reported");
  blocked = false;
  await creator.ensure(["sflow-2026-12-02"]);
});
