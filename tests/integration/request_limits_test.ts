/**
 * Requests Elasticsearch refuses for their size, on the stack's `eslimits` node (8.14.1,
 * `http.max_content_length: 1mb`, `action.auto_create_index: false`), which each test starts and
 * stops: 5,000-record batches are halved past the 413 until they fit, and requests a circuit
 * breaker refuses (a low `network.breaker.inflight_requests.limit`, set on that node only) are
 * split until they pass. Every record is indexed once, none dead-lettered, and neither refusal is
 * taken for an outage (`Elasticsearch answered 413`, `/readyz` failing, `elasticsearch_up` 0).
 */
import assert from "node:assert/strict";
import { createTopic, flowRecord, withKafka } from "../support/flow_records.ts";
import { SearchTarget } from "../support/search_target.ts";
import {
  type BridgeProcess,
  integrationTest,
  logLines,
  settingsOf,
  stack,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

const ESLIMITS = new SearchTarget("http://127.0.0.1:9204");

/**
 * Puts `records` records in a topic of their own, then runs a bridge with `env` over them into
 * `eslimits`: every record must be indexed once, none dead-lettered, and the bridge must have said
 * `split` (it met the refusal) and never that Elasticsearch failed.
 */
async function indexEveryRecord(records: number, env: Record<string, string>, split: string): Promise<void> {
  const name = uniqueName("limits");
  await withKafka(async (admin, produce) => {
    await createTopic(admin, name);
    await produce(name, Array.from({ length: records }, (_, sequence) => flowRecord(sequence)));
  });
  let bridge: BridgeProcess | undefined;
  try {
    bridge = await startBridge({ ...settingsOf(name), ELASTIC_HOSTS: "127.0.0.1:9204", ...env });
    await waitReady(bridge);
    const log = bridge.logPath;
    await waitFor(
      `${records} documents in ${ESLIMITS.url} (log: ${log})`,
      async () => (await ESLIMITS.count(name)) >= records || undefined,
      90_000,
      1000,
    );
    const ids = (await ESLIMITS.documents(name)).map((document) => document.id);
    assert.equal(ids.length, records, "no record twice");
    assert.equal(new Set(ids).size, records, "every record");
    assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0, "dead letters");
    assert.equal(await bridge.metric("pmacct_bridge_documents_rejected_total"), 0, "rejected documents");
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
    assert.ok((await logLines(bridge, split)).length > 0, `the bridge met the refusal and split (log: ${log})`);
    assert.deepEqual(await logLines(bridge, "Elasticsearch answered"), [], "a refusal for size is no outage");
  } finally {
    await bridge?.stop("SIGKILL");
    await ESLIMITS.request("DELETE", `/${name}-*`).catch(() => {});
  }
}

integrationTest("5,000-record batches over http.max_content_length are halved until they fit", async () => {
  await stack("up", "eslimits");
  try {
    await indexEveryRecord(10_000, { ELASTIC_MAX_SAMPLES_PER_SEND: "5000" }, "too large");
  } finally {
    await stack("down", "eslimits");
  }
});

/** Above this, counted twice (the breaker's overhead), a request trips the in-flight breaker: 1,000 records do. */
const INFLIGHT_LIMIT = "256kb";

function setInflightLimit(limit: string | null): Promise<unknown> {
  return ESLIMITS.request("PUT", "/_cluster/settings", {
    persistent: { "network.breaker.inflight_requests.limit": limit },
  });
}

integrationTest("requests a circuit breaker refuses are split until they pass, none dead-lettered", async () => {
  await stack("up", "eslimits");
  try {
    await setInflightLimit(INFLIGHT_LIMIT);
    await indexEveryRecord(5_000, { ELASTIC_MAX_SAMPLES_PER_SEND: "1000" }, "circuit breaker");
  } finally {
    await setInflightLimit(null).catch(() => {});
    await stack("down", "eslimits");
  }
});
