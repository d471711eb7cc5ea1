/**
 * The bridge's `_bulk` requests alone: the client side of sending the bridge's own documents to
 * the local Elasticsearch through {@linkcode SearchService.bulk}, as many requests in flight as the
 * bridge keeps, the bodies written beforehand (the record path alone counts writing them). What
 * is measured is this process's CPU while the requests run (`process.cpuUsage()`, every thread):
 * the client, undici, Deno's sockets, and the event loop waiting on the server. With kafkajs
 * alone and the record path alone it is the third floor under a drain's CPU per record.
 *
 * `deno task bench` runs it; alone, with the stack up:
 * `scripts/deno run -A --v8-flags=--max-semi-space-size=16 bench/bulk_alone.ts [--records=100000]`.
 */
import process from "node:process";
import { bulkBody } from "../lib/elastic/bulk_body.ts";
import { buildIndexTemplate, parseTemplateFile } from "../lib/elastic/index_template.ts";
import { elasticsearchTransport } from "../lib/elastic/elasticsearch_client.ts";
import { SearchService } from "../lib/elastic/service.ts";
import { encodeDocument } from "../lib/pmacct/document.ts";
import { REPO_ROOT } from "../tests/support/fixtures.ts";
import { elastic, uniqueName } from "../tests/support/stack.ts";
import { benchRecord } from "./records.ts";

/** CPU µs per record of sending `records` bench documents, `batchSize` a request, `concurrency` at once. */
export async function bulkMicrosPerRecord(records: number, batchSize: number, concurrency: number): Promise<number> {
  const prefix = uniqueName("bench-bulk");
  const bodies: Uint8Array[] = [];
  const indices = new Set<string>();
  for (let first = 0; first < records; first += batchSize) {
    const documents = [];
    for (let i = first; i < Math.min(records, first + batchSize); i++) {
      const origin = { topic: prefix, partition: 0, offset: String(i), position: 0, timestampMs: 0 };
      const text = benchRecord(i);
      const document = encodeDocument(JSON.parse(text), origin, {
        indexPrefix: prefix,
        timezone: "UTC",
        timestampSource: "flow",
      }, text);
      indices.add(document.index);
      documents.push(document);
    }
    bodies.push(bulkBody(documents));
  }
  // The daily indices as the bridge creates them, from its default template.
  const path = `${REPO_ROOT}new-index-template.json`;
  const { template } = buildIndexTemplate(prefix, parseTemplateFile(Deno.readTextFileSync(path), path), 1, 0);
  for (const index of indices) await elastic.indices.create({ index, ...template });
  const transport = elasticsearchTransport({
    nodes: ["http://127.0.0.1:9200"],
    auth: undefined,
    headers: undefined,
    tls: undefined,
    maxRetries: 0,
    requestTimeout: 60_000,
  });
  // The server's version does not change a `_bulk` request.
  const service = new SearchService({ distribution: "elasticsearch", version: "8" }, transport);
  try {
    // The first request creates the daily index and warms the client; it is not counted.
    const never = new AbortController().signal;
    await service.bulk(bodies.shift()!, never);
    const before = process.cpuUsage();
    let next = 0;
    const sender = async () => {
      while (next < bodies.length) {
        const items = await service.bulk(bodies[next++], never);
        const failed = items.find((item) => item.status >= 300);
        if (failed) throw new Error(`_bulk refused a bench document: ${failed.status} ${failed.error?.type}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, sender));
    const used = process.cpuUsage(before);
    return (used.user + used.system) / (records - batchSize);
  } finally {
    await service.close();
    await elastic.indices.delete({ index: `${prefix}-*`, allow_no_indices: true, ignore_unavailable: true });
  }
}

if (import.meta.main) {
  const given = Deno.args.find((arg) => arg.startsWith("--records="));
  const records = given === undefined ? 100_000 : Number(given.slice("--records=".length));
  const micros = await bulkMicrosPerRecord(records, 1000, 2);
  console.log(
    `_bulk alone: ${micros.toFixed(2)} µs/record (client side, ${records} records, 1000 a request, 2 in flight)`,
  );
}
