import assert from "node:assert/strict";
import { bulkBody } from "../../lib/elastic/bulk_body.ts";
import { encodeDocument } from "../../lib/pmacct/document.ts";
import { fixtureRecordFiles } from "../support/fixtures.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("the body is an action line and the source per document, in UTF-8", () => {
  const long = `{"label":"${"ü€".repeat(40)}","as_path":"${"65000 ".repeat(30)}"}`;
  const documents = [
    { index: "sflow-2026-11-24", id: "t:0:1:0", source: '{"label":"zürich"}' },
    { index: "sflow-2026-11-25", id: "t:0:2:0", source: long },
    { index: "sflow-2026-11-25", id: "t:0:3:1", source: "{}" },
  ];
  assert.equal(
    decoder.decode(bulkBody(documents)),
    documents.map(({ index, id, source }) => `{"index":{"_index":"${index}","_id":"${id}"}}\n${source}\n`).join(""),
  );
});

Deno.test("an id that needs escaping is written as JSON writes it, and the rest of the body is unharmed", () => {
  const ids = ['a"b', "a\\b", "tab\there", "zürich:0:1:0", "plain:0:1:0", ""];
  const documents = ids.map((id) => ({ index: "sflow-2026-11-24", id, source: '{"bytes":1}' }));
  const lines = decoder.decode(bulkBody(documents)).split("\n");
  assert.deepEqual(lines.filter((_, i) => i % 2 === 0 && i < 12).map((line) => JSON.parse(line).index._id), ids);
  assert.deepEqual(lines.filter((_, i) => i % 2 === 1).map((line) => JSON.parse(line)), ids.map(() => ({ bytes: 1 })));
});

Deno.test("a body larger than its first estimate grows and loses nothing", () => {
  const documents = Array.from({ length: 5 }, (_, i) => ({
    index: "sflow-2026-11-24",
    id: `t:0:${i}:0`,
    source: JSON.stringify({ as_path: "64512 ".repeat(2000), i }),
  }));
  const lines = decoder.decode(bulkBody(documents)).split("\n");
  assert.equal(lines.length, 11);
  assert.deepEqual(lines.filter((_, i) => i % 2 === 1 && i < 10).map((line) => JSON.parse(line).i), [0, 1, 2, 3, 4]);
});

Deno.test("pmacct's bytes with values spliced in are written as the spliced text would be", () => {
  const origin = { topic: "pmacct", partition: 0, offset: "7", position: 0, timestampMs: 0 };
  let fromBytes = 0;
  for (const timezone of ["UTC", "Asia/Kolkata"]) {
    for (const { lines } of fixtureRecordFiles()) {
      for (const line of lines) {
        const options = { indexPrefix: "sflow", timezone, timestampSource: "flow" } as const;
        const bytes = encoder.encode(line);
        const spliced = encodeDocument(JSON.parse(line), origin, options, line, bytes);
        const expected = `{"index":{"_index":"${spliced.index}","_id":"${spliced.id}"}}\n${String(spliced.source)}\n`;
        assert.equal(decoder.decode(bulkBody([spliced])), expected, line);
        if (typeof spliced.source !== "string" && bytes.length === line.length) fromBytes++;
      }
    }
  }
  assert.ok(fromBytes > 1000, `only ${fromBytes} sources were written from pmacct's bytes`);
});
