/**
 * The fault suite's bookkeeping: each scenario gets its own topic, group and index prefix,
 * produces pmacct records into the real Kafka, breaks a real server, and then accounts for every
 * produced record from what Elasticsearch and the dead-letter topic hold.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../support/fixtures.ts";
import type { SearchTarget } from "../support/search_target.ts";
import {
  type BridgeProcess,
  groupLag,
  indexedDocuments,
  integrationTest,
  KAFKA,
  kafkaClusterId,
  MAIN_ELASTIC,
  makeTrafficPcap,
  readTopic,
  recordPartOfId,
  replayCapture,
  startBridge,
  type TopicMessage,
  uniqueName,
  waitFor,
} from "../support/stack.ts";

/** `deno task chaos --long`: more records, more kills, longer outages. */
export const LONG = Deno.args.includes("--long");

const AGGREGATE = "src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start";

/** One line of the table the suite prints. */
export type Row = Omit<Accounting, "letters"> & {
  scenario: string;
  recoverSeconds: number;
  /**
   * Fetched batches the bridges still running at the end refused (`pmacct_bridge_kafka_batches_refused_total`):
   * fetched before a rejoin, or from another offset than their partition's run; each read again.
   */
  refused?: number;
};

export const rows: Row[] = [];

/** Where the suite keeps its last tables, for the docs. */
const TABLE_DIR = `${REPO_ROOT}.stack`;

export function renderTable(table: Row[]): string {
  const header = "| scenario | produced | indexed | dead-lettered | duplicates | missing | rewritten | overwritten | " +
    "batches refused | time to recover |";
  const lines = table.map((row) =>
    `| ${row.scenario} | ${row.produced} | ${row.indexed} | ${row.deadLettered} | ${row.duplicates} | ${row.missing} | ${row.rewritten} | ${row.overwritten} | ${
      row.refused ?? "-"
    } | ${row.recoverSeconds.toFixed(1)} s |`
  );
  return [header, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|", ...lines].join("\n");
}

/**
 * The records of a message, each under the key (`topic:partition:offset:position`) the bridge
 * gives it, with its line.
 */
export function recordsOf(topic: string, message: TopicMessage): Array<[key: string, line: string]> {
  const prefix = `${topic}:${message.partition}:${message.offset}`;
  const payload = message.payload ?? "";
  if (!payload.includes("\n")) return [[`${prefix}:0`, payload]];
  const lines = payload.split("\n").filter((line) => line.replace(/\r$/, "").trim() !== "");
  return lines.length === 0
    ? [[`${prefix}:0`, payload]]
    : lines.map((line, position) => [`${prefix}:${position}`, line]);
}

/** The counters a document and its record must agree on. */
const COUNTERS = ["bytes", "packets"];

/** Whether a document's counters are not those of the record line its `_id` names. */
function notItsRecord(source: Record<string, unknown> | undefined, line: string): boolean {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line);
  } catch {
    return true; // a line that is not JSON was never a document's record
  }
  return COUNTERS.some((counter) => Number(source?.[counter]) !== Number(record[counter]));
}

export interface Accounting {
  produced: number;
  indexed: number;
  deadLettered: number;
  /** ES documents or dead letters with the same key, keys in both, and keys never produced. */
  duplicates: number;
  missing: number;
  /** Documents written more than once under their own `_id` (at-least-once, made idempotent). */
  rewritten: number;
  /**
   * Documents whose content is not the record their `_id` names (`bytes` or `packets` differ
   * from the Kafka record at those coordinates): a silent overwrite, which must never happen.
   */
  overwritten: number;
  /** Dead letters of this scenario, for checks of their reasons and headers. */
  letters: TopicMessage[];
}

export interface Totals {
  count: number;
  bytes: number;
  packets: number;
}

export class Scenario {
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly bridges: BridgeProcess[] = [];
  #pcapDir: string | undefined;
  #pcap: string | undefined;
  #load: Promise<void> | undefined;
  #loading = false;

  /** Where the scenario's bridges index (the stack's main Elasticsearch by default). */
  readonly target: SearchTarget;
  /** The Kafka it uses, a broker list (the stack's main broker by default). */
  readonly kafka: string;

  constructor(readonly name: string, label: string, where: { target?: SearchTarget; kafka?: string } = {}) {
    this.topic = uniqueName(label);
    this.deadLetterTopic = `${this.topic}-dlq`;
    this.target = where.target ?? MAIN_ELASTIC;
    this.kafka = where.kafka ?? KAFKA;
  }

  /** Settings of every bridge of this scenario (same group, so they share the partitions). */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      KAFKA_BOOTSTRAP_SERVERS: this.kafka,
      KAFKA_TOPIC: this.topic,
      KAFKA_CONSUMER_GROUP_ID: this.topic,
      ELASTIC_INDEX_PREFIX: this.topic,
      ELASTIC_MAX_TIME_TO_SEND: "1",
      ...extra,
    };
  }

  async startBridge(extra: Record<string, string> = {}): Promise<BridgeProcess> {
    const bridge = await startBridge(this.env(extra));
    this.bridges.push(bridge);
    return bridge;
  }

  /** One replay of the synthetic capture (5,000 flows) through Debian's pmacctd into the topic. */
  async replay(times = 1): Promise<void> {
    if (!this.#pcapDir) this.#pcapDir = await Deno.makeTempDir({ prefix: "chaos-" });
    this.#pcap ??= await makeTrafficPcap(this.#pcapDir);
    for (let i = 0; i < times; i++) await replayCapture(this.topic, AGGREGATE, this.#pcap, this.kafka);
  }

  /** Keeps pmacctd replaying into the topic until {@linkcode stopLoad}: the load during a fault. */
  startLoad(): void {
    this.#loading = true;
    this.#load = (async () => {
      while (this.#loading) await this.replay();
    })();
  }

  async stopLoad(): Promise<void> {
    this.#loading = false;
    await this.#load;
  }

  /** Every produced record, accounted for from Elasticsearch and the dead-letter topic. */
  async account(): Promise<Accounting> {
    const produced = new Map<string, string>();
    for (const message of await readTopic(this.topic, this.kafka)) {
      for (const [key, line] of recordsOf(this.topic, message)) produced.set(key, line);
    }
    const documents = await indexedDocuments(this.topic, COUNTERS, this.target);
    const cluster = await kafkaClusterId(this.kafka);
    const indexed = new Set(documents.map((document) => recordPartOfId(document.id, cluster)));
    const letters = await readTopicIfExists(this.deadLetterTopic, this.kafka);
    const lettered = new Set(letters.map((letter) => letter.key ?? ""));
    let missing = 0;
    for (const key of produced.keys()) if (!indexed.has(key) && !lettered.has(key)) missing++;
    let both = 0;
    for (const key of lettered) if (indexed.has(key)) both++;
    const strangers = [...indexed, ...lettered].filter((key) => !produced.has(key)).length;
    return {
      produced: produced.size,
      indexed: indexed.size,
      deadLettered: lettered.size,
      duplicates: (documents.length - indexed.size) + (letters.length - lettered.size) + both + strangers,
      missing,
      rewritten: documents.filter((document) => document.version > 1).length,
      overwritten: documents.filter((document) => {
        const line = produced.get(recordPartOfId(document.id, cluster));
        return line !== undefined && notItsRecord(document.source, line);
      }).length,
      letters,
    };
  }

  /** How many records the topic holds, and the sums of their `bytes` and `packets`. */
  async producedTotals(): Promise<Totals> {
    const totals = { count: 0, bytes: 0, packets: 0 };
    for (const message of await readTopic(this.topic, this.kafka)) {
      for (const [, line] of recordsOf(this.topic, message)) {
        const record = JSON.parse(line);
        totals.count++;
        totals.bytes += Number(record.bytes);
        totals.packets += Number(record.packets);
      }
    }
    return totals;
  }

  /** How many documents the scenario's indices hold, and the sums of their `bytes` and `packets`. */
  async indexedTotals(): Promise<Totals> {
    const totals = { count: 0, bytes: 0, packets: 0 };
    for (const day of Object.values(await this.target.sums(this.topic))) {
      totals.count += day.count;
      totals.bytes += day.bytes;
      totals.packets += day.packets;
    }
    return totals;
  }

  /**
   * Waits until no produced record is missing (or the time is up); returns the last accounting
   * and the seconds since `since`, so a failed scenario still gets its row in the table.
   */
  async settle(since: number, timeoutMs = 300_000): Promise<Accounting & { seconds: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.account();
      if ((now.produced > 0 && now.missing === 0) || Date.now() > deadline) {
        return { ...now, seconds: (Date.now() - since) / 1000 };
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  /** Adds the scenario's row to the table. */
  record({ letters: _letters, seconds, ...counts }: Accounting & { seconds: number }): Row {
    const row: Row = { scenario: this.name, ...counts, recoverSeconds: seconds };
    rows.push(row);
    return row;
  }

  /** Stops the load and every bridge still running. */
  async cleanUp(): Promise<void> {
    await this.stopLoad().catch(() => {});
    await Promise.all(this.bridges.map((bridge) => bridge.stop("SIGKILL")));
    if (this.#pcapDir) await Deno.remove(this.#pcapDir, { recursive: true });
  }
}

async function readTopicIfExists(topic: string, broker: string): Promise<TopicMessage[]> {
  try {
    return await readTopic(topic, broker);
  } catch (error) {
    if (/Unknown topic|UNKNOWN_TOPIC/i.test((error as Error).message)) return [];
    throw error;
  }
}

/** Sum of a metric over all its labels, or 0 when the bridge does not answer. */
export async function metricOf(bridge: BridgeProcess, name: string): Promise<number> {
  try {
    return await bridge.metric(name);
  } catch {
    return 0;
  }
}

export const INDEXED = "pmacct_bridge_documents_indexed_total";

/**
 * The end of every scenario: waits for every record, adds the row, and checks that nothing is
 * missing, doubled or overwritten by another record, and that the group caught up.
 */
export async function recover(scenario: Scenario, since: number, lagOf = scenario.bridges.slice(-1)): Promise<Row> {
  const row = scenario.record(await scenario.settle(since));
  assertClean(row);
  await assertCaughtUp(scenario, lagOf);
  row.refused = 0;
  for (const bridge of scenario.bridges) {
    row.refused += await metricOf(bridge, "pmacct_bridge_kafka_batches_refused_total");
  }
  return row;
}

function assertClean(row: Row): void {
  assert.equal(
    row.missing,
    0,
    `${row.scenario}: ${row.missing} produced records are neither indexed nor dead-lettered`,
  );
  assert.equal(row.duplicates, 0, `${row.scenario}: ${row.duplicates} duplicates`);
  assert.equal(row.overwritten, 0, `${row.scenario}: ${row.overwritten} documents hold another record's content`);
  assert.equal(row.produced, row.indexed + row.deadLettered, `${row.scenario}: produced ≠ indexed + dead-lettered`);
}

/** After recovery: the group has committed everything, and the bridge's lag gauge says 0. */
async function assertCaughtUp(scenario: Scenario, bridges = scenario.bridges.slice(-1)): Promise<void> {
  await waitFor(
    "the group's committed offsets to reach the end of the topic",
    async () => (await groupLag(scenario.topic, scenario.topic, scenario.kafka)) === 0,
    60_000,
    1000,
  );
  for (const bridge of bridges) {
    await waitFor(
      `lag 0 in /metrics of ${bridge.logPath}`,
      async () => (await metricOf(bridge, "pmacct_bridge_kafka_consumer_lag")) === 0,
      30_000,
      500,
    );
  }
}

/** Waits until the bridge has indexed `count` documents; returns how many it has. */
export async function indexedAtLeast(bridge: BridgeProcess, count: number): Promise<number> {
  return await waitFor(
    `${count} documents indexed by ${bridge.logPath}`,
    async () => {
      const indexed = await metricOf(bridge, INDEXED);
      return indexed >= count ? indexed : undefined;
    },
    180_000,
    20,
  );
}

/**
 * The last test of a file of scenarios: prints the table of the scenarios it ran and writes it
 * to `.stack/<file>` (each test file runs apart, with rows of its own).
 */
export function tableTest(file: string): void {
  integrationTest("fault suite table", async () => {
    const table = renderTable(rows);
    console.log(`\n${table}\n`);
    await Deno.mkdir(TABLE_DIR, { recursive: true });
    await Deno.writeTextFile(`${TABLE_DIR}/${file}`, table + "\n");
    assert.ok(rows.length > 0, "no scenario ran");
  });
}
