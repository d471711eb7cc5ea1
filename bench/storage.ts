/**
 * What a flow costs on Elasticsearch's disk, and how fast Elasticsearch indexes it, per index
 * template: the same bridge documents bulk-loaded into one index per template, force-merged to one
 * segment, then measured (`_stats/store` of the primaries). Part of `deno task bench`; also runs
 * alone: `deno run -A bench/storage.ts [--records=300000] [--candidates] [--disk-usage]`
 * (`--candidates` adds the settings and mappings tried when the default was chosen; `--disk-usage`
 * says where the default's bytes go).
 */
import { Buffer } from "node:buffer";
import { bulkBody } from "../lib/elastic/bulk_body.ts";
import { buildIndexTemplate, parseTemplateFile, type TemplateFile } from "../lib/elastic/index_template.ts";
import { encodeDocument } from "../lib/pmacct/document.ts";
import { REPO_ROOT, SHARED } from "../tests/support/fixtures.ts";
import { elastic, uniqueName } from "../tests/support/stack.ts";
import { storageRecords } from "./storage_records.ts";

export interface StorageRow {
  template: string;
  bytesPerFlow: number;
  docsPerSecond: number;
  /** With `--disk-usage`: bytes per flow of each field, largest first (`_disk_usage`). */
  fields?: Array<[string, number]>;
}

/** The bridge's documents of `records`, as `_bulk` bodies of `batchSize`, all into `index`. */
function bodiesOf(records: string[], index: string, batchSize: number): Uint8Array[] {
  const bodies: Uint8Array[] = [];
  for (let i = 0; i < records.length; i += batchSize) {
    const documents = records.slice(i, i + batchSize).map((text, j) => {
      const offset = i + j;
      const origin = {
        topic: "pmacct.flows",
        partition: offset % 3,
        offset: String(offset),
        position: 0,
        // Kafka times as a busy collector's messages have them (ids end with theirs): ten a millisecond.
        timestampMs: 1764064800000 + Math.floor(offset / 10),
      };
      const document = encodeDocument(JSON.parse(text), origin, {
        indexPrefix: "storage",
        timezone: "UTC",
        timestampSource: "flow",
        // A real cluster id's length: ids weigh on the disk too.
        sourceCluster: "q1Sh-9_ISia_zwGINzRvyQ",
      }, text);
      return { ...document, index };
    });
    bodies.push(bulkBody(documents));
  }
  return bodies;
}

/** Loads the bodies with `concurrency` requests in flight; returns the seconds it took. */
async function load(bodies: Uint8Array[], concurrency: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const { body: answer } = await elastic.transport.request<{ errors: boolean; items?: unknown[] }>({
        method: "POST",
        path: "/_bulk",
        querystring: { filter_path: "errors,items.*.error" },
        bulkBody: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      }, { meta: true });
      if (answer.errors) throw new Error(`storage: documents refused: ${JSON.stringify(answer.items?.[0])}`);
    }
  }));
  return (performance.now() - started) / 1000;
}

/** One template's row: index the records, force-merge, measure. */
async function measure(
  name: string,
  file: TemplateFile,
  records: string[],
  concurrency: number,
  diskUsage = false,
): Promise<StorageRow> {
  const index = uniqueName("storage");
  // The settings and mappings the bridge would create a daily index with: one shard, no replica.
  await elastic.indices.create({ index, ...buildIndexTemplate(index, file, 1, 0).template });
  try {
    const seconds = await load(bodiesOf(records, index, 1000), concurrency);
    await elastic.indices.refresh({ index });
    await elastic.indices.forcemerge({ index, max_num_segments: 1 });
    const stats = await elastic.indices.stats({ index, metric: ["store", "docs"] });
    const primaries = stats.indices![index].primaries!;
    const count = primaries.docs!.count;
    if (count !== records.length) throw new Error(`storage: ${name} holds ${count} of ${records.length} documents`);
    const row = {
      template: name,
      bytesPerFlow: primaries.store!.size_in_bytes / count,
      docsPerSecond: count / seconds,
    };
    if (!diskUsage) return row;
    const usage = await elastic.transport.request<
      Record<string, { fields: Record<string, { total_in_bytes: number }> }>
    >(
      { method: "POST", path: `/${index}/_disk_usage`, querystring: { run_expensive_tasks: "true" } },
    );
    const fields = Object.entries(usage[index].fields).map(([field, { total_in_bytes }]) =>
      [field, total_in_bytes / count] as [string, number]
    );
    return { ...row, fields: fields.sort((a, b) => b[1] - a[1]) };
  } finally {
    await elastic.indices.delete({ index });
  }
}

function templateFile(path: string): TemplateFile {
  return parseTemplateFile(Deno.readTextFileSync(path), path);
}

type Mapping = Record<string, unknown>;

/** `file` with every field's mapping rewritten by `change`. */
function withMappings(file: TemplateFile, change: (name: string, mapping: Mapping) => Mapping): TemplateFile {
  const properties = file.mappings.properties as Record<string, Mapping>;
  return {
    ...file,
    mappings: {
      ...file.mappings,
      properties: Object.fromEntries(
        Object.entries(properties).map(([name, mapping]) => [name, change(name, mapping)]),
      ),
    },
  };
}

/**
 * Settings and mappings tried for the default, each on top of the one before, starting from the
 * bridge's template without its tuning (every field indexed, no settings); the default itself is
 * the next step (all but addresses, destination ports, protocols and ASNs in doc values only).
 */
function candidates(bridge: TemplateFile): Array<[string, TemplateFile]> {
  const untuned = withMappings({ ...bridge, settings: {} }, (_, { index: _i, doc_values: _d, ...mapping }) => mapping);
  const compressed = { ...untuned, settings: { "index.codec": "best_compression" } };
  const sorted = {
    ...compressed,
    settings: { ...compressed.settings, "index.sort.field": ["@timestamp"], "index.sort.order": ["desc"] },
  };
  const datesInDocValues = withMappings(
    sorted,
    (name, mapping) => mapping.type === "date" && name !== "@timestamp" ? { ...mapping, index: false } : mapping,
  );
  return [
    ["every field indexed, no settings", untuned],
    ["+ index.codec: best_compression", compressed],
    ["+ sorted by @timestamp", sorted],
    ["+ the other dates in doc values only", datesInDocValues],
  ];
}

/** The rows of one run: the original tool's template, the bridge's default and, if asked, the candidates. */
export async function runStorage(
  count: number,
  withCandidates: boolean,
  { concurrency = 2, diskUsage = false } = {},
): Promise<StorageRow[]> {
  const records = storageRecords(count);
  const bridge = templateFile(`${REPO_ROOT}new-index-template.json`);
  const rows: StorageRow[] = [];
  const variants: Array<[string, TemplateFile]> = [
    ["the original tool's template", templateFile(`${SHARED}/seed/new-index-template.json`)],
    ["the bridge's default template", bridge],
    ...(withCandidates ? candidates(bridge) : []),
  ];
  for (const [i, [name, file]] of variants.entries()) {
    rows.push(await measure(name, file, records, concurrency, diskUsage && i === 1));
  }
  return rows;
}

/** A Markdown table of the rows, with each rate beside the original's. */
export function storageTable(rows: StorageRow[], count: number): string {
  const original = rows[0].docsPerSecond;
  const lines = [
    `storage: ${count} flows, one index per template, force-merged to one segment, primaries only`,
    "",
    "| template | bytes per flow | Elasticsearch indexing rate | rate / original's |",
    "| --- | --: | --: | --: |",
    ...rows.map((row) =>
      `| ${row.template} | ${row.bytesPerFlow.toFixed(1)} B | ${Math.round(row.docsPerSecond)} docs/s | ${
        (row.docsPerSecond / original).toFixed(2)
      } |`
    ),
  ];
  const fields = rows[1]?.fields;
  if (fields) {
    lines.push("", `where ${rows[1].template}'s bytes go (_disk_usage, bytes per flow):`);
    lines.push(
      fields.filter(([, bytes]) => bytes >= 0.5).map(([field, bytes]) => `${field} ${bytes.toFixed(1)}`).join(", "),
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const records = Number(Deno.args.find((arg) => arg.startsWith("--records="))?.slice(10) ?? 300_000);
  const rows = await runStorage(records, Deno.args.includes("--candidates"), {
    diskUsage: Deno.args.includes("--disk-usage"),
  });
  console.log(storageTable(rows, records));
}
