/**
 * The read-back helper against a fake server that answers as Elasticsearch 8.14.1 did (captured
 * with `curl`) while a daily index's primary had not started: a search of that index alone
 * answers 503, a search of the pattern answers 200 with that shard missing.
 */
import assert from "node:assert/strict";
import { SearchTarget, shardsNotReady } from "../support/search_target.ts";

const UNSTARTED = "sflow-2026-12-01";
const ALL_SHARDS_FAILED = {
  status: 503,
  body: {
    error: {
      root_cause: [{ type: "no_shard_available_action_exception", reason: null }],
      type: "search_phase_execution_exception",
      reason: "all shards failed",
      phase: "query",
      grouped: true,
      failed_shards: [{
        shard: 0,
        index: UNSTARTED,
        node: null,
        reason: { type: "no_shard_available_action_exception", reason: null },
      }],
    },
    status: 503,
  },
};
const PARTIAL = {
  status: 200,
  body: {
    took: 4,
    timed_out: false,
    _shards: {
      total: 2,
      successful: 1,
      skipped: 0,
      failed: 1,
      failures: [{
        shard: 0,
        index: UNSTARTED,
        node: null,
        reason: { type: "no_shard_available_action_exception", reason: null },
      }],
    },
    hits: { total: { value: 1, relation: "eq" }, max_score: null, hits: [] },
  },
};
const WHOLE = {
  status: 200,
  body: {
    took: 1,
    timed_out: false,
    _shards: { total: 2, successful: 2, skipped: 0, failed: 0 },
    hits: { total: { value: 2, relation: "eq" }, max_score: null, hits: [] },
  },
};
/** A refresh's `_shards` counts replicas, so one unassigned replica is not a missing shard. */
const REFRESH_ONE_REPLICA_UNASSIGNED = { status: 200, body: { _shards: { total: 2, successful: 1, failed: 0 } } };

/** Serves `answers` in turn (the last one again and again); returns the target and the paths asked. */
function fakeServer(answers: Array<{ status: number; body: unknown }>) {
  const asked: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    asked.push(`${request.method} ${url.pathname}`);
    const answer = answers[Math.min(asked.length - 1, answers.length - 1)];
    return Response.json(answer.body, { status: answer.status });
  });
  return { server, asked, url: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("a read-back waits out a shard that has not started: 503, then a partial answer, then the whole one", async () => {
  const { server, asked, url } = fakeServer([ALL_SHARDS_FAILED, PARTIAL, WHOLE]);
  try {
    const answer = await new SearchTarget(url).request("POST", "/sflow-*/_search?allow_no_indices=true", { size: 0 });
    assert.equal(answer.hits.total.value, 2);
    assert.equal(asked.length, 3);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a read-back that never gets all its shards fails after its patience, naming them", async () => {
  const { server, url } = fakeServer([PARTIAL]);
  try {
    await assert.rejects(
      new SearchTarget(url, undefined, 600).request("GET", "/sflow-*/_count"),
      /shards not started \(1 of 2 shards did not answer\)/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("writes, scroll pages and other errors are not sent again", async () => {
  const { server, asked, url } = fakeServer([ALL_SHARDS_FAILED]);
  try {
    const target = new SearchTarget(url);
    await assert.rejects(target.request("PUT", "/sflow-2026-12-01"), /answered 503/);
    await assert.rejects(
      target.request("POST", "/_search/scroll", { scroll: "1m", scroll_id: "x" }),
      /shards not started \(503 search_phase_execution_exception\)/,
    );
    assert.equal(asked.length, 2);
  } finally {
    await server.shutdown();
  }
});

Deno.test("which answers are not whole yet", () => {
  assert.equal(
    shardsNotReady(ALL_SHARDS_FAILED.status, ALL_SHARDS_FAILED.body, true),
    "503 search_phase_execution_exception",
  );
  assert.equal(shardsNotReady(PARTIAL.status, PARTIAL.body, true), "1 of 2 shards did not answer");
  assert.equal(shardsNotReady(WHOLE.status, WHOLE.body, true), undefined);
  assert.equal(
    shardsNotReady(REFRESH_ONE_REPLICA_UNASSIGNED.status, REFRESH_ONE_REPLICA_UNASSIGNED.body, false),
    undefined,
  );
  assert.equal(shardsNotReady(503, { error: { type: "master_not_discovered_exception" } }, true), undefined);
});
