import assert from "node:assert/strict";
import { BulkRequestError } from "../../lib/elastic/bulk_writer.ts";
import { describeBlocks, itemBlock, parseBlocks } from "../../lib/elastic/block.ts";
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
import { ALIAS_HOLDS_NAME, CLOSED_INDEX_ITEM, SHARD_LIMIT } from "../support/refusals.ts";

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

/** An index creator whose cluster answers the creation of an index with `refusal(index)`, or creates it. */
function creatorRefusing(
  health: Health,
  refusal: (index: string) => { status: number; error: unknown } | undefined,
): IndexCreator {
  const service = {
    createIndex: (index: string) => {
      const answer = refusal(index);
      return answer ? Promise.reject(toSearchError(responseError(answer))) : Promise.resolve("created");
    },
  } as unknown as SearchService;
  return new IndexCreator(
    service,
    buildIndexTemplate("sflow", { mappings: {}, settings: {} }, 1, 0),
    health,
    new Logger("error", () => {}),
  );
}

Deno.test("a block refusing an index's creation is passed on as a block, not as a missing create_index privilege", async () => {
  const health = new Health(new Logger("error", () => {}), { [INDEX_CHECK]: true });
  let blocked = true;
  const creator = creatorRefusing(health, () => blocked ? CLUSTER_READ_ONLY.createIndex : undefined);
  const failure = (await creator.ensure(["sflow-2026-12-02"])).get("sflow-2026-12-02");
  assert.ok(failure instanceof BulkRequestError);
  assert.equal(failure.type, "cluster_block_exception");
  assert.equal(failure.status, 403);
  assert.equal(
    describeBlocks(parseBlocks(failure.message)),
    "index sflow-2026-12-02 is blocked: cluster read-only (api)",
  );
  assert.equal(health.ok(INDEX_CHECK), true, "no privilege problem reported");
  blocked = false;
  assert.equal((await creator.ensure(["sflow-2026-12-02"])).size, 0);
});

Deno.test("an index the cluster refuses to create is named on /readyz until it is made; another's creation does not hide it", async () => {
  const health = new Health(new Logger("error", () => {}), { [INDEX_CHECK]: true });
  const refused = new Map([["sflow-2026-12-02", ALIAS_HOLDS_NAME], ["sflow-2026-12-03", SHARD_LIMIT]]);
  const creator = creatorRefusing(health, (index) => refused.get(index));
  const failures = await creator.ensure(["sflow-2026-12-01", "sflow-2026-12-02", "sflow-2026-12-03"]);
  assert.deepEqual([...failures.keys()].sort(), ["sflow-2026-12-02", "sflow-2026-12-03"]);
  assert.equal(failures.get("sflow-2026-12-02")!.status, 400);
  const problem = () => health.report().problems[INDEX_CHECK] ?? "";
  assert.equal(
    problem(),
    "cannot create index sflow-2026-12-02: invalid_index_name_exception: Invalid index name [sflow-2026-12-02], " +
      "already exists as alias; its records are retried, the other indices' are written; " +
      "cannot create index sflow-2026-12-03: validation_exception: Validation Failed: 1: this action would add [2] " +
      "shards, but this cluster currently has [1]/[1] maximum normal shards open;; its records are retried, the other " +
      "indices' are written",
  );
  refused.delete("sflow-2026-12-03");
  assert.equal((await creator.ensure(["sflow-2026-12-03"])).size, 0);
  assert.match(problem(), /^cannot create index sflow-2026-12-02: .*already exists as alias; [^;]*$/, "still named");
  refused.delete("sflow-2026-12-02");
  assert.equal((await creator.ensure(["sflow-2026-12-02"])).size, 0);
  assert.equal(health.ok(INDEX_CHECK), true);
});

Deno.test("a closed index is counted as a blocked index and named on /readyz with how to reopen it", async () => {
  const health = new Health(new Logger("error", () => {}), { ...ELASTIC_CHECKS });
  const metrics = createMetrics();
  const status = new ElasticStatus(health, metrics, NODES);
  const closed = itemBlock("sflow-2026-12-01", CLOSED_INDEX_ITEM.error)!;
  const written = parseBlocks(BLOCKED_ITEMS["index.blocks.write"].error.reason)[0];
  assert.deepEqual(parseBlocks(closed.text), [closed], "read back as the block it is");
  status.bulkHealth(
    new BulkRequestError(`cluster_block_exception: ${closed.text}`, undefined, "cluster_block_exception"),
  );
  assert.equal(
    health.report().problems.elasticsearch_block,
    "index sflow-2026-12-01 is closed; Elasticsearch takes no writes there until it is reopened: " +
      "POST /sflow-2026-12-01/_open; retrying",
  );
  assert.equal(await gauge(metrics, "pmacct_bridge_elasticsearch_blocked"), 1);
  const both = { ...written, index: "sflow-2026-12-02", text: written.text.replace("2026-12-01", "2026-12-02") };
  status.bulkHealth(
    new BulkRequestError(`cluster_block_exception: ${closed.text}${both.text}`, undefined, "cluster_block_exception"),
  );
  assert.equal(
    health.report().problems.elasticsearch_block,
    "index sflow-2026-12-02 is blocked: index write (api); Elasticsearch takes no writes there until the block is " +
      "lifted; index sflow-2026-12-01 is closed; Elasticsearch takes no writes there until it is reopened: " +
      "POST /sflow-2026-12-01/_open; retrying",
  );
  assert.equal(await gauge(metrics, "pmacct_bridge_elasticsearch_blocked"), 2);
  assert.equal(await gauge(metrics, "pmacct_bridge_elasticsearch_auth_failed"), 0);
});
