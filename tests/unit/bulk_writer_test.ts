import assert from "node:assert/strict";
import type { BulkDocument } from "../../lib/elastic/bulk_body.ts";
import { bulkActionIds } from "../support/bulk_body.ts";
import {
  type BulkItemResult,
  type BulkOutcomeHandlers,
  BulkRequestError,
  type BulkTransport,
  BulkWriter,
  type IndexPreparer,
} from "../../lib/elastic/bulk_writer.ts";
import { Logger } from "../../lib/runtime/log.ts";
import { createMetrics } from "../../lib/runtime/metrics.ts";
import { Aborted } from "../../lib/runtime/retry.ts";
import { toSearchError } from "../../lib/elastic/transport.ts";
import { BLOCKED_ITEMS, CLUSTER_READ_ONLY, responseError } from "../support/cluster_blocks.ts";
import { ALIAS_HOLDS_NAME, CLOSED_INDEX_ITEM, INFLIGHT_BREAKER, SHARD_LIMIT } from "../support/refusals.ts";
import { classifyElasticFailure } from "../../lib/elastic/status.ts";

const FAST = { initialMs: 1, maxMs: 2 };
const quiet = () => new Logger("error", () => {});

const docs = (count: number): BulkDocument[] =>
  Array.from({ length: count }, (_, i) => ({ index: "sflow-2026-11-25", id: `t:0:${i}:0`, source: `{"n":${i}}` }));

/** A transport answering from a script: each call takes the next step (items, or an error). */
function scripted(steps: Array<(ids: string[]) => BulkItemResult[] | Error>) {
  const calls: string[][] = [];
  const transport: BulkTransport = (body) => {
    const ids = bulkActionIds(body);
    calls.push(ids);
    const step = steps[Math.min(calls.length - 1, steps.length - 1)];
    const result = step(ids);
    return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
  };
  return { transport, calls };
}

/** An index preparer that could not create the indices `refused` names at each call (with why). */
function refusing(refused: () => Array<[string, BulkRequestError]>): IndexPreparer {
  return { ensure: () => Promise.resolve(new Map(refused())), forget: () => {} };
}

function recorder() {
  const outcome = { indexed: [] as string[], rejected: [] as Array<[string, string]>, health: [] as boolean[] };
  const handlers: BulkOutcomeHandlers<BulkDocument> = {
    indexed: (documents) => outcome.indexed.push(...documents.map((doc) => doc.id)),
    rejected: (doc, item) => {
      outcome.rejected.push([doc.id, item.error?.type ?? ""]);
      return Promise.resolve();
    },
    health: (failure) => outcome.health.push(failure === undefined),
  };
  return { outcome, handlers };
}

Deno.test("only items answered 429/5xx are retried; other 4xx are rejected; 2xx indexed", async () => {
  const { transport, calls } = scripted([
    () => [{ status: 201 }, { status: 429, error: { type: "es_rejected_execution_exception" } }, {
      status: 400,
      error: { type: "mapper_parsing_exception" },
    }, { status: 503 }],
    (ids) => ids.map(() => ({ status: 200 })),
  ]);
  const metrics = createMetrics();
  const { outcome, handlers } = recorder();
  await new BulkWriter(transport, quiet(), metrics, { backoff: FAST }).write(
    docs(4),
    handlers,
    new AbortController().signal,
  );
  assert.deepEqual(calls, [["t:0:0:0", "t:0:1:0", "t:0:2:0", "t:0:3:0"], ["t:0:1:0", "t:0:3:0"]]);
  assert.deepEqual(outcome.indexed.sort(), ["t:0:0:0", "t:0:1:0", "t:0:3:0"]);
  assert.deepEqual(outcome.rejected, [["t:0:2:0", "mapper_parsing_exception"]]);
  const retried = (await metrics.registry.getSingleMetric("pmacct_bridge_documents_retried_total")!.get()).values;
  assert.equal(retried.reduce((sum, value) => sum + value.value, 0), 2);
});

Deno.test("a failed request and an answer with the wrong item count are resent whole", async () => {
  const { transport, calls } = scripted([
    () => new BulkRequestError("connect ECONNREFUSED"),
    () => [{ status: 201 }],
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const { outcome, handlers } = recorder();
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST }).write(
    docs(3),
    handlers,
    new AbortController().signal,
  );
  assert.equal(calls.length, 3);
  assert.deepEqual(calls[2], ["t:0:0:0", "t:0:1:0", "t:0:2:0"]);
  assert.equal(outcome.indexed.length, 3);
  assert.deepEqual(outcome.health, [false, true, true]);
});

Deno.test("a retry budget dead-letters what is left, but never for refused credentials", async () => {
  const failing = scripted([() => new BulkRequestError("503 Service Unavailable", 503)]);
  const spent = recorder();
  await new BulkWriter(failing.transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 2 }).write(
    docs(2),
    spent.handlers,
    new AbortController().signal,
  );
  assert.equal(failing.calls.length, 3, "first try and two retries");
  assert.deepEqual(spent.outcome.rejected.map(([, reason]) => reason), [
    "retry_budget_exhausted",
    "retry_budget_exhausted",
  ]);

  const auth = scripted([
    () => new BulkRequestError("security_exception", 401),
    () => new BulkRequestError("security_exception", 401),
    () => new BulkRequestError("security_exception", 401),
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const refused = recorder();
  await new BulkWriter(auth.transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 0 }).write(
    docs(2),
    refused.handlers,
    new AbortController().signal,
  );
  assert.equal(refused.outcome.rejected.length, 0);
  assert.equal(refused.outcome.indexed.length, 2);

  // Retries that spent nothing leave the whole budget to what comes after them.
  const thenUnavailable = scripted([
    () => new BulkRequestError("security_exception", 401),
    () => new BulkRequestError("security_exception", 401),
    () => new BulkRequestError("503 Service Unavailable", 503),
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const budget = recorder();
  await new BulkWriter(thenUnavailable.transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 1 }).write(
    docs(2),
    budget.handlers,
    new AbortController().signal,
  );
  assert.deepEqual([budget.outcome.rejected.length, budget.outcome.indexed.length], [0, 2]);

  // The budget is each document's own: one held by a block keeps its retries while another spends
  // its own on 429s.
  const blockedAndBusy = scripted([
    (ids) =>
      ids.map((id) =>
        id === "t:0:0:0" ? BLOCKED_ITEMS["index.blocks.write"] : { status: 429, error: { type: "es_rejected" } }
      ),
    (ids) =>
      ids.map((id) =>
        id === "t:0:0:0" ? BLOCKED_ITEMS["index.blocks.write"] : { status: 429, error: { type: "es_rejected" } }
      ),
    (ids) => ids.map(() => ({ status: 429, error: { type: "es_rejected" } })),
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const own = recorder();
  await new BulkWriter(blockedAndBusy.transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 1 }).write(
    docs(2),
    own.handlers,
    new AbortController().signal,
  );
  assert.deepEqual(own.outcome.rejected, [["t:0:1:0", "retry_budget_exhausted"]]);
  assert.deepEqual(own.outcome.indexed, ["t:0:0:0"]);
});

Deno.test("413 halves the request, reported as no outage; a lone document too large is rejected", async () => {
  const { transport, calls } = scripted([
    (ids) =>
      ids.length > 1 || ids[0] === "t:0:2:0"
        ? new BulkRequestError("413 Request Entity Too Large", 413)
        : ids.map(() => ({ status: 201 })),
  ]);
  const { outcome, handlers } = recorder();
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST }).write(
    docs(3),
    handlers,
    new AbortController().signal,
  );
  assert.deepEqual(outcome.indexed.sort(), ["t:0:0:0", "t:0:1:0"]);
  assert.deepEqual(outcome.rejected, [["t:0:2:0", "request_too_large"]]);
  assert.deepEqual(calls[0].length, 3);
  assert.ok(outcome.health.every(Boolean), "a 413 is answered: no outage");
});

Deno.test("retryNow cuts a long backoff short; abort ends the write without an outcome", async () => {
  const { transport } = scripted([
    () => new BulkRequestError("connect ECONNREFUSED"),
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const writer = new BulkWriter(transport, quiet(), createMetrics(), { backoff: { initialMs: 60_000, maxMs: 60_000 } });
  const { outcome, handlers } = recorder();
  const writing = writer.write(docs(1), handlers, new AbortController().signal);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(outcome.indexed.length, 0, "still waiting out the backoff");
  writer.retryNow();
  await writing;
  assert.equal(outcome.indexed.length, 1);

  const down = scripted([() => new BulkRequestError("connect ECONNREFUSED")]);
  const abort = new AbortController();
  const stopped = recorder();
  const aborted = new BulkWriter(down.transport, quiet(), createMetrics(), {
    backoff: { initialMs: 60_000, maxMs: 60_000 },
  }).write(docs(1), stopped.handlers, abort.signal);
  await new Promise((resolve) => setTimeout(resolve, 20));
  abort.abort();
  await assert.rejects(aborted, Aborted);
  assert.deepEqual(stopped.outcome.indexed, []);
  assert.deepEqual(stopped.outcome.rejected, []);
});

Deno.test("indices are created before the first write; a missing index is created again and retried, never rejected", async () => {
  const { transport, calls } = scripted([
    (ids) =>
      ids.map((_, i) => i === 1 ? { status: 404, error: { type: "index_not_found_exception" } } : { status: 201 }),
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const ensured: string[][] = [];
  const forgotten: string[] = [];
  const indices = {
    ensure: (names: Iterable<string>) => {
      ensured.push([...new Set(names)]);
      return Promise.resolve(new Map());
    },
    forget: (index: string) => forgotten.push(index),
  };
  const { outcome, handlers } = recorder();
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 0, indices }).write(
    docs(3),
    handlers,
    new AbortController().signal,
  );
  assert.deepEqual(ensured, [["sflow-2026-11-25"], ["sflow-2026-11-25"]], "ensured before each request");
  assert.deepEqual(forgotten, ["sflow-2026-11-25"]);
  assert.deepEqual(calls, [["t:0:0:0", "t:0:1:0", "t:0:2:0"], ["t:0:1:0"]]);
  assert.deepEqual(outcome.rejected, []);
  assert.deepEqual(outcome.indexed.sort(), ["t:0:0:0", "t:0:1:0", "t:0:2:0"]);
});

Deno.test("an index the user may not create holds the batch (no request, no dead letter) until it may", async () => {
  const { transport, calls } = scripted([(ids) => ids.map(() => ({ status: 201 }))]);
  let refusals = 2;
  const indices = refusing(() =>
    refusals-- > 0 ? [["sflow-2026-11-25", new BulkRequestError("may not create", 403)]] : []
  );
  const { outcome, handlers } = recorder();
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 1, indices }).write(
    docs(2),
    handlers,
    new AbortController().signal,
  );
  assert.equal(calls.length, 1, "no _bulk request while the index cannot be created");
  assert.deepEqual(outcome.rejected, [], "a missing privilege never dead-letters (nor spends the retry budget)");
  assert.deepEqual(outcome.health, [true], "a refused creation is reported by the preparer, not as an outage");
});

Deno.test("documents a block refuses are retried until it is lifted, never dead-lettered nor spending the budget", async () => {
  const blocked = (ids: string[]) => ids.map(() => BLOCKED_ITEMS["index.blocks.write"]);
  const { transport, calls } = scripted([
    (ids) => ids.map((_, i) => i === 0 ? BLOCKED_ITEMS["index.blocks.read_only_allow_delete"] : { status: 201 }),
    blocked,
    blocked,
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const failures: Array<BulkRequestError | undefined> = [];
  const { outcome, handlers } = recorder();
  handlers.health = (failure) => failures.push(failure);
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 0 }).write(
    docs(2),
    handlers,
    new AbortController().signal,
  );
  assert.equal(calls.length, 4);
  assert.deepEqual(outcome.rejected, []);
  assert.deepEqual(outcome.indexed.sort(), ["t:0:0:0", "t:0:1:0"]);
  assert.deepEqual(failures.map((failure) => failure?.type), [
    "cluster_block_exception",
    "cluster_block_exception",
    "cluster_block_exception",
    undefined,
  ]);
  assert.match(failures[0]!.message, /index \[sflow-2026-12-01\] blocked by: \[TOO_MANY_REQUESTS\/12\/disk usage/);
  assert.match(failures[1]!.message, /index \[sflow-2026-12-01\] blocked by: \[FORBIDDEN\/8\/index write \(api\)\];$/);
});

Deno.test("a block holds its documents while the budget dead-letters the others of the same request", async () => {
  const { transport, calls } = scripted([
    (ids) =>
      ids.map((_, i) =>
        i === 0 ? BLOCKED_ITEMS["index.blocks.write"] : { status: 503, error: { type: "unavailable_shards_exception" } }
      ),
    (ids) => ids.map(() => BLOCKED_ITEMS["index.blocks.write"]),
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const { outcome, handlers } = recorder();
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 0 }).write(
    docs(2),
    handlers,
    new AbortController().signal,
  );
  assert.deepEqual(outcome.rejected, [["t:0:1:0", "retry_budget_exhausted"]]);
  assert.deepEqual(calls.slice(1), [["t:0:0:0"], ["t:0:0:0"]]);
  assert.deepEqual(outcome.indexed, ["t:0:0:0"]);
});

Deno.test("a whole request or index creation a cluster block refuses is retried and reported as the block", async () => {
  const clusterBlock = toSearchError(responseError(CLUSTER_READ_ONLY.bulk));
  const { transport, calls } = scripted([
    () => new BulkRequestError(clusterBlock.message, clusterBlock.status, clusterBlock.type),
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const creation = toSearchError(responseError(CLUSTER_READ_ONLY.createIndex));
  let refusals = 1;
  const indices = refusing(() =>
    refusals-- > 0 ? [["sflow-2026-12-02", new BulkRequestError(creation.message, creation.status, creation.type)]] : []
  );
  const failures: Array<string | undefined> = [];
  const { outcome, handlers } = recorder();
  handlers.health = (failure) => failures.push(failure?.message);
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 0, indices }).write(
    docs(2).map((doc) => ({ ...doc, index: "sflow-2026-12-02" })),
    handlers,
    new AbortController().signal,
  );
  assert.equal(calls.length, 2);
  assert.deepEqual(outcome.rejected, []);
  assert.equal(outcome.indexed.length, 2);
  assert.deepEqual(failures, [
    "cluster_block_exception: index [sflow-2026-12-02] blocked by: [FORBIDDEN/6/cluster read-only (api)];",
    "cluster_block_exception: index [sflow-2026-12-02] blocked by: [FORBIDDEN/6/cluster read-only (api)];" +
    "blocked by: [FORBIDDEN/6/cluster read-only (api)];",
    undefined,
  ]);
});

Deno.test("indexed documents are counted by the status Elasticsearch answered, created and overwritten apart", async () => {
  const { transport } = scripted([() => [{ status: 201 }, { status: 200 }, { status: 201 }, { status: 400 }]]);
  const metrics = createMetrics();
  const { handlers } = recorder();
  await new BulkWriter(transport, quiet(), metrics, { backoff: FAST }).write(
    docs(4),
    handlers,
    new AbortController().signal,
  );
  const counted = (await metrics.indexed.get()).values.map(({ labels, value }) => [labels.status, value]);
  assert.deepEqual(counted.sort(), [["200", 1], ["201", 2]]);
});

Deno.test("items refused for a missing ingest pipeline wait for it: retried, never dead-lettered nor spending the budget", async () => {
  // Elasticsearch 8.14's own answer to `_bulk?pipeline=enrich` once the pipeline is deleted.
  const missing = {
    status: 400,
    error: { type: "illegal_argument_exception", reason: "pipeline with id [enrich] does not exist" },
  };
  const { transport, calls } = scripted([
    (ids) => ids.map((_, i) => i === 0 ? missing : { status: 400, error: { type: "illegal_argument_exception" } }),
    (ids) => ids.map(() => missing),
    (ids) => ids.map(() => ({ status: 201 })),
  ]);
  const { outcome, handlers } = recorder();
  const pipelineReports: Array<string | undefined> = [];
  handlers.pipeline = (missing) => pipelineReports.push(missing);
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 0 }).write(
    docs(2),
    handlers,
    new AbortController().signal,
  );
  assert.equal(calls.length, 3);
  assert.deepEqual(outcome.rejected, [["t:0:1:0", "illegal_argument_exception"]], "other 400s are still the data's");
  assert.deepEqual(outcome.indexed, ["t:0:0:0"]);
  const reason = "pipeline with id [enrich] does not exist";
  assert.deepEqual(pipelineReports, [reason, reason, undefined], "readiness hears of it, and of its end");
});

/** A scripted service's creation error, as the index preparer passes it on. */
function creationRefused(answer: { status: number; error: unknown }): BulkRequestError {
  const refusal = toSearchError(responseError(answer));
  return new BulkRequestError(refusal.message, refusal.status, refusal.type);
}

Deno.test("an index that cannot be created holds only its own documents: the others of the request are sent and indexed", async () => {
  const twoDays = docs(4).map((doc, i) => ({ ...doc, index: i % 2 === 0 ? "sflow-2026-12-01" : "sflow-2026-12-02" }));
  for (const answer of [ALIAS_HOLDS_NAME, SHARD_LIMIT]) {
    const { transport, calls } = scripted([(ids) => ids.map(() => ({ status: 201 }))]);
    const { outcome, handlers } = recorder();
    const indices = refusing(() => [["sflow-2026-12-02", creationRefused(answer)]]);
    await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 2, indices }).write(
      twoDays,
      handlers,
      new AbortController().signal,
    );
    assert.deepEqual(calls, [["t:0:0:0", "t:0:2:0"]], "the healthy day's documents only, at once");
    assert.deepEqual(outcome.indexed, ["t:0:0:0", "t:0:2:0"]);
    assert.deepEqual(outcome.rejected, [
      ["t:0:1:0", "retry_budget_exhausted"],
      ["t:0:3:0", "retry_budget_exhausted"],
    ], "the usual budget, spent by the other day's documents alone");
    assert.ok(outcome.health.every(Boolean), "an index refused is not the cluster down: the preparer names it");
  }

  // Without a budget they wait until the index can be made.
  let refusals = 3;
  const { transport, calls } = scripted([(ids) => ids.map(() => ({ status: 201 }))]);
  const { outcome, handlers } = recorder();
  const indices = refusing(() => refusals-- > 0 ? [["sflow-2026-12-02", creationRefused(SHARD_LIMIT)]] : []);
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, indices }).write(
    twoDays,
    handlers,
    new AbortController().signal,
  );
  assert.deepEqual(calls, [["t:0:0:0", "t:0:2:0"], ["t:0:1:0", "t:0:3:0"]]);
  assert.deepEqual(outcome.indexed, ["t:0:0:0", "t:0:2:0", "t:0:1:0", "t:0:3:0"]);
  assert.deepEqual(outcome.rejected, []);
});

Deno.test("a closed index holds its documents as a block: retried, never dead-lettered nor spending the budget, named with how to reopen it", async () => {
  const closedAndToday = docs(3).map((doc, i) => ({ ...doc, index: i === 1 ? "sflow-2026-12-07" : doc.index }));
  const closed = (ids: string[]) => ids.map((id) => id === "t:0:1:0" ? { status: 201 } : CLOSED_INDEX_ITEM);
  const { transport, calls } = scripted([closed, closed, closed, closed, (ids) => ids.map(() => ({ status: 201 }))]);
  const failures: Array<BulkRequestError | undefined> = [];
  const { outcome, handlers } = recorder();
  handlers.health = (failure) => failures.push(failure);
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 0 }).write(
    closedAndToday,
    handlers,
    new AbortController().signal,
  );
  assert.equal(calls.length, 5);
  assert.deepEqual(calls.slice(1), Array(4).fill(["t:0:0:0", "t:0:2:0"]), "only the closed index's documents again");
  assert.deepEqual(outcome.rejected, []);
  assert.deepEqual(outcome.indexed, ["t:0:1:0", "t:0:0:0", "t:0:2:0"]);
  assert.deepEqual(failures.map((failure) => failure?.type), [...Array(4).fill("cluster_block_exception"), undefined]);
  const { check, problem } = classifyElasticFailure(failures[0]!, ["http://127.0.0.1:9200"]);
  assert.equal(check, "elasticsearch_block");
  assert.equal(
    problem,
    "index sflow-2026-11-25 is closed; Elasticsearch takes no writes there until it is reopened: " +
      "POST /sflow-2026-11-25/_open; retrying",
  );
});

Deno.test("a circuit breaker's 429 splits the request down to one document; one it still refuses is retried, not dead-lettered", async () => {
  const breaker = toSearchError(responseError(INFLIGHT_BREAKER));
  let loneRefusals = 2;
  const { transport, calls } = scripted([
    (ids) =>
      ids.length > 1 || (ids[0] === "t:0:4:0" && loneRefusals-- > 0)
        ? new BulkRequestError(breaker.message, breaker.status, breaker.type)
        : ids.map(() => ({ status: 201 })),
  ]);
  const { outcome, handlers } = recorder();
  await new BulkWriter(transport, quiet(), createMetrics(), { backoff: FAST, maxRetries: 5 }).write(
    docs(5),
    handlers,
    new AbortController().signal,
  );
  assert.deepEqual(calls.map((ids) => ids.length), [5, 3, 2, 1, 1, 1, 2, 1, 1, 1, 1]);
  assert.deepEqual(calls.slice(-3), [["t:0:4:0"], ["t:0:4:0"], ["t:0:4:0"]], "the lone document, retried");
  assert.deepEqual(outcome.rejected, []);
  assert.deepEqual(outcome.indexed.sort(), ["t:0:0:0", "t:0:1:0", "t:0:2:0", "t:0:3:0", "t:0:4:0"]);
  assert.ok(outcome.health.every(Boolean), "a refusal for size is no outage");
});
