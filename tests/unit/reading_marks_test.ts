/**
 * The reading marks (`<prefix>-bridge-state`) on a fake transport: the requests they send, how a
 * `_create` answer reads, and what they do when a request fails.
 */
import assert from "node:assert/strict";
import { readingMarkId, ReadingMarks } from "../../lib/elastic/reading_marks.ts";
import { SearchService } from "../../lib/elastic/service.ts";
import { SearchError, type SearchRequest, type SearchTransport } from "../../lib/elastic/transport.ts";

/** A transport that answers by `answer` and keeps each request. */
function fakeTransport(answer: (request: SearchRequest) => SearchError | undefined = () => undefined) {
  const sent: SearchRequest[] = [];
  const transport: SearchTransport = {
    request(request) {
      sent.push(request);
      const error = answer(request);
      return error ? Promise.reject(error) : Promise.resolve({ status: 200, body: {}, headers: {} });
    },
    close: () => Promise.resolve(),
  };
  return { sent, service: new SearchService({ distribution: "elasticsearch", version: "8.14.1" }, transport) };
}

Deno.test("the first mark makes the index's own template and the hidden index, then creates the mark once", async () => {
  const marked = new Set<string>();
  const { sent, service } = fakeTransport((request) => {
    if (!request.path.includes("/_create/")) return undefined;
    if (marked.has(request.path)) return new SearchError("version_conflict_engine_exception: exists", 409);
    marked.add(request.path);
  });
  const marks = new ReadingMarks(service, "sflow", "MkU3");
  assert.equal(await marks.firstReading("flows", "pmacct", 3), true);
  assert.equal(await marks.firstReading("flows", "pmacct", 3), false, "read before");
  assert.equal(await marks.firstReading("other", "pmacct", 3), true, "another group's");
  assert.deepEqual(sent.map(({ method, path }) => `${method} ${path}`), [
    "PUT /_index_template/sflow-bridge-state",
    "PUT /sflow-bridge-state",
    "PUT /sflow-bridge-state/_create/MkU3%3Aflows%3Apmacct%3A3",
    "PUT /sflow-bridge-state/_create/MkU3%3Aflows%3Apmacct%3A3",
    "PUT /sflow-bridge-state/_create/MkU3%3Aother%3Apmacct%3A3",
  ]);
  const template = sent[0].body as { index_patterns: string[]; template: { settings: Record<string, unknown> } };
  assert.deepEqual(template.index_patterns, ["sflow-bridge-state"]);
  assert.equal(template.template.settings["index.hidden"], true);
  assert.ok(sent.filter(({ path }) => path.includes("/_create/")).every(({ once }) => once), "never retried");
  assert.deepEqual(sent[2].body, {
    cluster: "MkU3",
    group: "flows",
    topic: "pmacct",
    partition: 3,
    first_read: (sent[2].body as { first_read: string }).first_read,
  });
});

Deno.test("a failed preparation is tried again at the next mark; an index another bridge made is used", async () => {
  let templateFails = true;
  const { sent, service } = fakeTransport((request) => {
    if (request.path.startsWith("/_index_template/") && templateFails) {
      return new SearchError("security_exception: action [indices:admin/index_template/put] is unauthorized", 403);
    }
    if (request.path === "/sflow-bridge-state") {
      return new SearchError("resource_already_exists_exception: exists", 400, "resource_already_exists_exception");
    }
  });
  const marks = new ReadingMarks(service, "sflow");
  await assert.rejects(marks.firstReading("flows", "pmacct", 0), /unauthorized/);
  templateFails = false;
  assert.equal(await marks.firstReading("flows", "pmacct", 0), true);
  assert.equal(sent.filter(({ path }) => path.startsWith("/_index_template/")).length, 2);
});

Deno.test("a mark's id past Elasticsearch's 512 bytes is its SHA-256", () => {
  assert.equal(readingMarkId("c", "g", "t", 1), "c:g:t:1");
  const long = readingMarkId("c", "g".repeat(600), "t", 1);
  assert.match(long, /^sha256:[0-9a-f]{64}$/);
  assert.notEqual(long, readingMarkId("c", "g".repeat(601), "t", 1));
});
