/**
 * Helpers for integration tests against the real local stack (`stack/stack.sh up`): Debian's
 * pmacct producing into the real Kafka, the bridge as a real process, Elasticsearch read back.
 */
import { Client } from "@elastic/elasticsearch";
import { type Admin, Kafka, logLevel, type Producer } from "kafkajs";
import { withAdmin } from "../../lib/kafka/client.ts";
import type { DayTotals } from "./flow_oracle.ts";
import { FIXTURES, REPO_ROOT } from "./fixtures.ts";
import { type IndexedDocument, SearchTarget } from "./search_target.ts";

export type { IndexedDocument } from "./search_target.ts";

export const KAFKA = "127.0.0.1:9092";
/** The stack's Kafka 4.1.1 (`stack.sh up kafka4`): KRaft, `auto.create.topics.enable=false`. */
export const KAFKA4 = "127.0.0.1:9192";
/**
 * The stack's three-broker Kafka 4.1.1 (`stack.sh up kafkacluster`, node ids 1 to 3 on
 * 9311-9313): topics replicated three times, `min.insync.replicas=2`. A broker list, as
 * `KAFKA_BOOTSTRAP_SERVERS` takes it; every helper here that takes a `broker` takes a list too.
 */
export const KAFKA_CLUSTER = "127.0.0.1:9311,127.0.0.1:9312,127.0.0.1:9313";
export const ELASTIC = "http://127.0.0.1:9200";
/** The main Elasticsearch through its client (the benchmark's set-up). */
export const elastic = new Client({ node: ELASTIC });

/**
 * A test against the real stack. It starts processes and servers that outlive its awaits (a
 * bridge's pipes, a stack script), so Deno's op and resource sanitizers are off.
 */
export function integrationTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

/** A name no earlier run used, so tests never see each other's topics, groups or indices. */
export function uniqueName(label: string): string {
  return `it-${label}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 120_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

export async function run(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<string> {
  return (await runLogged(command, args, options)).stdout;
}

export interface RunOptions {
  cwd?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** A failing exit is accepted when stderr matches this (a known, harmless exit race). */
  harmlessFailure?: RegExp;
}

/** {@linkcode run}, keeping stderr too: pmacct logs there what it did with its records. */
async function runLogged(
  command: string,
  args: string[],
  options: RunOptions,
): Promise<{ stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
  });
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout);
  const errors = new TextDecoder().decode(stderr);
  if (code !== 0 && !options.harmlessFailure?.test(errors)) {
    throw new Error(`${command} ${args.join(" ")} exited ${code}: ${errors.slice(-2000)}`);
  }
  return { stdout: out, stderr: errors };
}

/** Writes synthetic traffic (5,000 packets over the last ten minutes) with the fixture's scapy script. */
export async function makeTrafficPcap(dir: string): Promise<string> {
  await run("/usr/bin/python3", [`${FIXTURES}/debian-pmacct-1.7.7/make-traffic-pcap.py`], { cwd: dir });
  return `${dir}/traffic.pcap`;
}

/**
 * One replay of a capture of the synthetic traffic through Debian's pmacctd (UTC timestamps)
 * into `topic`, as it lands: for load whose records are read back from the topic afterwards.
 */
export async function replayCapture(topic: string, aggregate: string, pcap: string, broker = KAFKA): Promise<void> {
  await runPmacct({ daemon: "pmacctd", pcap, topic, aggregate, extra: ["timestamps_utc: true"], broker });
}

/**
 * Replays the synthetic capture through Debian's pmacctd into `topic`, until the topic holds at
 * least its records more: the given capture, or a fresh one made (and removed) for this replay.
 */
export async function replaySyntheticTraffic(
  topic: string,
  aggregate: string,
  pcap?: string,
  broker = KAFKA,
): Promise<void> {
  const dir = pcap ? undefined : await Deno.makeTempDir();
  try {
    const capture = pcap ?? await makeTrafficPcap(dir!);
    const before = await recordCount(topic, broker);
    // pmacct 1.7.7 has also lost nearly all of a replay without a word in its log (6 records of
    // 5,000, into Kafka 4.1.1 on a loaded CI host; fewer than 1,000 into the second broker in
    // another run): counted, and replayed again, as a logged loss is.
    for (let attempt = 1;; attempt++) {
      await replayCapture(topic, aggregate, capture, broker);
      const added = await recordCount(topic, broker) - before;
      if (added >= SYNTHETIC_RECORDS) return;
      if (attempt === PMACCT_ATTEMPTS) throw new Error(`pmacctd wrote ${added} records into ${topic} ${attempt} times`);
      console.error(`pmacctd wrote only ${added} of ${SYNTHETIC_RECORDS} records into ${topic}; replaying again`);
    }
  } finally {
    if (dir) await Deno.remove(dir, { recursive: true });
  }
}

/** Records the synthetic capture (`make-traffic-pcap.py`) makes at least. */
const SYNTHETIC_RECORDS = 5000;

/** The records (lines) `topic` holds. */
async function recordCount(topic: string, broker: string): Promise<number> {
  const messages = await readTopic(topic, broker).catch(() => []);
  return messages.reduce(
    (sum, { payload }) => sum + (payload ?? "").split("\n").filter((line) => line.trim() !== "").length,
    0,
  );
}

/** The captured router exports of pmacct's own regression suite. */
export const FIXTURE_CAPTURES = [
  "100-IPFIXv10-CISCO",
  "101-NFv9-CISCO-cust_primitives",
  "103-IPFIXv10-CISCO-pretag-JSON_encoding",
  "104-IPFIXv10-IPv6-CISCO-sampling_option",
].map((name) => `${FIXTURES}/pmacct-test-automation/${name}/traffic-00.pcap`);

export interface PmacctRun {
  /** `sfacctd`: Debian's pmacctd replays the capture as an sFlow probe (`sfprobe`) to sfacctd. */
  daemon: "pmacctd" | "nfacctd" | "sfacctd";
  pcap: string;
  topic: string;
  aggregate: string;
  /** Extra config lines, e.g. `timestamps_utc: true`. */
  extra?: string[];
  /** Extra environment, e.g. `TZ` for pmacct's local-time strings. */
  env?: Record<string, string>;
  /** `host:port` of the broker pmacct writes to, or a comma-separated list; the main broker by default. */
  broker?: string;
}

function kafkaPluginConfig(topic: string, aggregate: string, extra: string[], broker = KAFKA): string[] {
  const [host, port] = broker.split(",")[0].split(":");
  return [
    "daemonize: false",
    "plugins: kafka[k]",
    `aggregate[k]: ${aggregate}`,
    `kafka_topic[k]: ${topic}`,
    // pmacct 1.7.7 hands a kafka_broker_host with a comma to librdkafka as it is, a list of
    // `host:port` (its port setting is then not used): it bootstraps from any broker alive.
    `kafka_broker_host[k]: ${broker.includes(",") ? broker : host}`,
    `kafka_broker_port[k]: ${port}`,
    "kafka_refresh_time[k]: 300",
    // A replay runs as fast as the disk reads: a roomy pipe from pmacct's core to the plugin
    // keeps the plugin's slow start (connecting to Kafka, on a loaded CI host) from losing flows.
    "plugin_pipe_size[k]: 67108864",
    "plugin_buffer_size[k]: 65536",
    "kafka_history[k]: 5m",
    "kafka_history_roundoff[k]: m",
    ...extra,
  ];
}

let nextSflowPort = 16_400 + Math.floor(Math.random() * 500);

/**
 * sFlow has no pcap replay in pmacct 1.7.7, so pmacctd's sfprobe plugin turns the capture into
 * sFlow datagrams sent to a listening sfacctd, which is then stopped with SIGINT (it purges its
 * cache into Kafka on the way out).
 */
async function runSflow(dir: string, { pcap, topic, aggregate, extra = [], env, broker }: PmacctRun): Promise<string> {
  const port = nextSflowPort++;
  const collector = [
    ...kafkaPluginConfig(topic, aggregate, extra, broker),
    "sfacctd_ip: 127.0.0.1",
    `sfacctd_port: ${port}`,
  ];
  await Deno.writeTextFile(`${dir}/sfacctd.conf`, collector.join("\n") + "\n");
  const probe = [
    "daemonize: false",
    `pcap_savefile: ${pcap}`,
    "pcap_savefile_wait: false",
    "plugins: sfprobe[s]",
    `sfprobe_receiver[s]: 127.0.0.1:${port}`,
    "sampling_rate[s]: 1",
  ];
  await Deno.writeTextFile(`${dir}/sfprobe.conf`, probe.join("\n") + "\n");
  const sfacctd = new Deno.Command("/usr/sbin/sfacctd", {
    args: ["-f", `${dir}/sfacctd.conf`],
    cwd: dir,
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let output = "";
  const reading = (async () => {
    for await (const chunk of sfacctd.stderr.pipeThrough(new TextDecoderStream())) output += chunk;
  })();
  try {
    await waitFor(
      `sfacctd listening on ${port}`,
      () => Promise.resolve(output.includes("waiting for sFlow data")),
      20_000,
    );
    // At the end of the capture pmacctd stops its sfprobe plugin, and sometimes then exits 1
    // ("connection lost to 's-sfprobe' ... no more plugins active") after all was sent. The
    // records sfacctd writes are checked by the caller either way.
    await run("/usr/sbin/pmacctd", ["-f", `${dir}/sfprobe.conf`], {
      cwd: dir,
      timeoutMs: 90_000,
      harmlessFailure: /connection lost to 's-sfprobe'[^]*no more plugins active/,
    });
    // Datagrams still in the socket buffer are read within milliseconds; give them a second.
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } finally {
    sfacctd.kill("SIGINT");
  }
  const status = await sfacctd.status;
  await reading;
  if (!status.success) throw new Error(`sfacctd exited ${status.code}: ${output.slice(-2000)}`);
  return output;
}

/**
 * What pmacct 1.7.7 logs when records it held did not all reach Kafka: its producer gave up
 * (`p_kafka_check_outq_len()` drops the queue once it has not shrunk for about four seconds, as
 * on a loaded host with a broker just started), or its core outran the plugin's pipe.
 */
const PMACCT_LOST_RECORDS = /Connection failed to Kafka[^\n]*|Missing data detected[^\n]*/;
const PMACCT_ATTEMPTS = 3;

/**
 * Replays a capture through Debian's pmacct with the kafka plugin into `topic`. The plugin's
 * refresh time is longer than the replay so the cache is purged once, at exit: with frequent
 * purges pmacct 1.7.7 drops entries of a fast pcap replay.
 *
 * When pmacct says it lost records on the way to Kafka, the capture is replayed again (up to
 * three times in all, each told on stderr): callers read what they expect from the topic
 * afterwards, and a record written twice sits at two offsets, so it is two records to them.
 */
export async function runPmacct(replay: PmacctRun): Promise<void> {
  for (let attempt = 1;; attempt++) {
    const lost = (await runPmacctOnce(replay)).match(PMACCT_LOST_RECORDS)?.[0];
    if (!lost) return;
    const what = `${replay.daemon} replaying ${replay.pcap} into ${replay.topic}`;
    if (attempt === PMACCT_ATTEMPTS) throw new Error(`${what} lost records ${attempt} times: ${lost}`);
    console.error(`${what} lost records (${lost}); replaying again`);
  }
}

/** One replay; returns pmacct's log. */
async function runPmacctOnce(replay: PmacctRun): Promise<string> {
  const { daemon, pcap, topic, aggregate, extra = [], env, broker } = replay;
  await ensureTopic(topic, broker);
  const dir = await Deno.makeTempDir({ prefix: "pmacct-" });
  try {
    if (daemon === "sfacctd") return await runSflow(dir, replay);
    const config = [
      ...kafkaPluginConfig(topic, aggregate, extra, broker),
      `pcap_savefile: ${pcap}`,
      "pcap_savefile_wait: false",
    ];
    await Deno.writeTextFile(`${dir}/pmacct.conf`, config.join("\n") + "\n");
    const args = ["-f", `${dir}/pmacct.conf`];
    return (await runLogged(`/usr/sbin/${daemon}`, args, { cwd: dir, timeoutMs: 90_000, env })).stderr;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

export interface TopicMessage {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  headers: Record<string, string>;
  payload: string | null;
}

/** Every message of a topic, read with kcat (independent of the bridge's Kafka client). */
export async function readTopic(topic: string, broker = KAFKA): Promise<TopicMessage[]> {
  const out = await run("kcat", [
    "-b",
    broker,
    "-C",
    "-t",
    topic,
    "-e",
    "-q",
    "-J",
    "-X",
    "fetch.message.max.bytes=16777216",
  ]);
  return out.split("\n").filter((line) => line.trim() !== "").map((line) => {
    const message = JSON.parse(line);
    const pairs: string[] = message.headers ?? [];
    const headers: Record<string, string> = {};
    for (let i = 0; i + 1 < pairs.length; i += 2) headers[pairs[i]] = pairs[i + 1];
    return {
      partition: message.partition,
      offset: message.offset,
      timestamp: message.ts,
      key: message.key ?? null,
      headers,
      payload: message.payload,
    };
  });
}

/** The stack's main Elasticsearch (8.14.1, `action.auto_create_index: false`). */
export const MAIN_ELASTIC = new SearchTarget(ELASTIC);

/** Per daily index, what the target holds. */
export function indexedSums(prefix: string, target = MAIN_ELASTIC): Promise<DayTotals> {
  return target.sums(prefix);
}

/** Every document in the prefix's indices, with its source if `withSource` (or the fields it names). */
export function indexedDocuments(
  prefix: string,
  withSource: boolean | string[] = false,
  target = MAIN_ELASTIC,
): Promise<IndexedDocument[]> {
  return target.documents(prefix, withSource);
}

/** Every `_id` in the prefix's indices (with repeats, should a record be there twice). */
export async function allIds(prefix: string, target = MAIN_ELASTIC): Promise<string[]> {
  return (await indexedDocuments(prefix, false, target)).map((document) => document.id);
}

export interface BridgeProcess {
  child: Deno.ChildProcess;
  port: number;
  logPath: string;
  /** A metric summed over its labels (`name`), or one labelled series (`name{label="value"}`); 0 if absent. */
  metric(name: string): Promise<number>;
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

async function appendStream(stream: ReadableStream<Uint8Array>, path: string): Promise<void> {
  const file = await Deno.open(path, { append: true });
  try {
    for await (const chunk of stream) await file.write(chunk);
  } catch {
    // the bridge was killed mid-write
  } finally {
    file.close();
  }
}

/**
 * The flags `deno task start` runs the bridge with (permissions, V8 heap sizing), read from
 * `deno.json`: tests and the benchmark run the bridge as operators do, one process, no task runner.
 */
export const BRIDGE_RUN_FLAGS: string[] = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}deno.json`)).tasks.start
  .split(" ").filter((arg: string) => arg.startsWith("--"));

/**
 * The settings of a bridge whose topic, group and index prefix are all `topic`, as a running
 * bridge and a one-off run beside it (`--backfill`, `--replay-dead-letters`) both have them.
 */
export const settingsOf = (topic: string): Record<string, string> => ({
  KAFKA_BOOTSTRAP_SERVERS: KAFKA,
  KAFKA_TOPIC: topic,
  KAFKA_CONSUMER_GROUP_ID: topic,
  ELASTIC_INDEX_PREFIX: topic,
  ELASTIC_MAX_TIME_TO_SEND: "1",
  PMACCT_TIMEZONE: "UTC",
  // A replay of a capture: its flows keep their own, old, days.
  FLOW_TIME_MAX_AGE: "off",
});

/**
 * Runs `main.ts` once to its end with only `env` (and `PATH`, `HOME`) in its environment, as a
 * command-line call (`--help`, `--check`, a bad setting) runs it; returns its status and output.
 * A run that has not ended after `timeoutMs` gets SIGTERM and fails the test, naming its output.
 */
export async function runMain(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 300_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const signal = AbortSignal.timeout(timeoutMs);
  const output = await new Deno.Command(Deno.execPath(), {
    signal,
    args: ["run", ...BRIDGE_RUN_FLAGS, "main.ts", ...args],
    cwd: REPO_ROOT,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const stderr = decoder.decode(output.stderr);
  if (signal.aborted) throw new Error(`main.ts ${args.join(" ")} had not ended after ${timeoutMs} ms:\n${stderr}`);
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr };
}

let nextPort = 19_100 + Math.floor(Math.random() * 500);

/** The id Kafka gave the cluster at `broker`: the first part of every document's `_id`. */
export async function kafkaClusterId(broker = KAFKA): Promise<string> {
  const clusterId = await withTestAdmin(broker, async (admin) => (await admin.describeCluster()).clusterId);
  if (!clusterId) throw new Error(`${broker} has no cluster id`);
  return clusterId;
}

/**
 * A document id's record part (`<topic>:<partition>:<offset>:<position>`, the Kafka time the id
 * ends with left out), to compare with what was produced; an id that does not begin with
 * `cluster` comes back marked, so it matches nothing.
 */
export function recordPartOfId(id: string, cluster: string): string {
  if (!id.startsWith(`${cluster}:`)) return `(not of cluster ${cluster}) ${id}`;
  return id.slice(cluster.length + 1, id.lastIndexOf(":"));
}

/**
 * The `_id` the bridge gives the record at `position` of `message`: its cluster's id, topic,
 * partition, offset, position, and the message's Kafka time in base 36.
 */
export function recordIdOf(
  cluster: string,
  topic: string,
  message: Pick<TopicMessage, "partition" | "offset" | "timestamp">,
  position: number,
): string {
  return `${cluster}:${topic}:${message.partition}:${message.offset}:${position}:${message.timestamp.toString(36)}`;
}

/**
 * Starts the bridge (`main.ts`) as its own process, one process as the compiled binary is, with
 * a log file of its own; `denoFlags` go before the script (e.g. `--cpu-prof`); `cwd` is where it
 * reads `.env` and relative paths, as an operator's working directory.
 */
export async function startBridge(
  env: Record<string, string>,
  denoFlags: string[] = [],
  cwd = REPO_ROOT,
): Promise<BridgeProcess> {
  const port = nextPort++;
  const logPath = await Deno.makeTempFile({ prefix: "bridge-", suffix: ".log" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...BRIDGE_RUN_FLAGS, ...denoFlags, `${REPO_ROOT}main.ts`],
    cwd,
    env: {
      PROMETHEUS_CLIENT_PORT: String(port),
      KAFKA_BOOTSTRAP_SERVERS: KAFKA,
      ELASTIC_HOSTS: "127.0.0.1:9200",
      PMACCT_TIMEZONE: "UTC",
      // The tests replay recordings of old traffic into their flows' own days (as the demo does);
      // a test of the window sets it.
      FLOW_TIME_MAX_AGE: "off",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Both streams are drained into the log (an unread pipe would stall the bridge). Written chunk
  // by chunk: on Deno 2.9, `FsFile.writable` of a file opened for append wrote nothing.
  for (const stream of [child.stdout, child.stderr]) appendStream(stream, logPath);
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let total = 0;
    for (const line of text.split("\n")) {
      const matches = name.includes("{")
        ? line.startsWith(`${name} `)
        : line.startsWith(name) && /^[a-z_]+(\{[^}]*\})? /.test(line) && line.split(/[ {]/)[0] === name;
      if (matches) {
        total += Number(line.split(" ").at(-1));
      }
    }
    return total;
  };
  return {
    child,
    port,
    logPath,
    metric,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      return await child.status;
    },
  };
}

export async function waitReady(bridge: BridgeProcess, timeoutMs = 60_000): Promise<void> {
  await waitFor(`bridge /readyz on port ${bridge.port} (log: ${bridge.logPath})`, async () => {
    const response = await fetch(`http://127.0.0.1:${bridge.port}/readyz`);
    await response.body?.cancel();
    return response.status === 200;
  }, timeoutMs);
}

/** Topics {@linkcode ensureTopic} made or found, per broker. */
const ensuredTopics = new Set<string>();

/**
 * Creates `topic` (the broker's default partitions and replication, as auto-creation would: 3
 * and 3 on kafkacluster) unless it exists. One
 * CI run saw pmacct deliver 6 of 5,000 records to a topic it had to have auto-created while the
 * host was loaded: pmacct flushes for a bounded time at exit, and records still waiting for the
 * new topic's leader are then lost. A topic that exists first leaves nothing waiting.
 */
export async function ensureTopic(topic: string, broker = KAFKA): Promise<void> {
  const key = `${broker}/${topic}`;
  if (ensuredTopics.has(key)) return;
  try {
    await withTestAdmin(broker, (admin) => admin.createTopics({ topics: [{ topic }], waitForLeaders: true }));
    ensuredTopics.add(key);
  } catch {
    // Best effort: a fault scenario may have the broker down; pmacct then creates the topic itself.
  }
}

/**
 * A topic name of its own (`uniqueName(label)`; the test creates it as it needs), an admin and a
 * producer connected to the main Kafka for `use`; the topic is deleted after, the clients closed.
 */
export async function withScratchTopic<T>(
  label: string,
  use: (kafka: { topic: string; admin: Admin; producer: Producer }) => Promise<T>,
): Promise<T> {
  const topic = uniqueName(label);
  const kafka = new Kafka({ clientId: `test-${label}`, brokers: [KAFKA], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  await Promise.all([admin.connect(), producer.connect()]);
  try {
    return await use({ topic, admin, producer });
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await Promise.all([admin.disconnect(), producer.disconnect()]);
  }
}

/** The bridge's own {@linkcode withAdmin}, on a quiet client of the tests; `broker` may be a list. */
export function withTestAdmin<T>(broker: string, use: (admin: Admin) => Promise<T>): Promise<T> {
  return withAdmin(new Kafka({ clientId: "test-check", brokers: broker.split(","), logLevel: logLevel.NOTHING }), use);
}

/**
 * The node id of the broker coordinating `group`, as Kafka answers kafkajs' FindCoordinator
 * request (which kafkajs' admin sends for `describeGroups`, and tells only in its debug log).
 */
export async function groupCoordinator(group: string, broker = KAFKA): Promise<number> {
  let coordinator: number | undefined;
  const kafka = new Kafka({
    clientId: "test-coordinator",
    brokers: broker.split(","),
    logLevel: logLevel.DEBUG,
    logCreator: () => ({ log }) => {
      if (log.message === "Found group coordinator") coordinator = Number(log.nodeId);
    },
  });
  await withAdmin(kafka, (admin) => admin.describeGroups([group]));
  if (coordinator === undefined) throw new Error(`Kafka named no coordinator of group ${group}`);
  return coordinator;
}

/** The offset `group` committed on a partition of `topic` (-1 while it has committed none). */
export async function committedOffset(admin: Admin, group: string, topic: string, partition = 0): Promise<number> {
  const [{ partitions }] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return Number(partitions.find((at) => at.partition === partition)?.offset ?? -1);
}

/** A small pmacct record stamped now, so that its day is today's index. */
export function recordOfNow(bytes: number): string {
  const stamp = new Date().toISOString().slice(0, 19).replace("T", " ");
  return JSON.stringify({ bytes, packets: 1, stamp_inserted: stamp });
}

/** The group's lag as Kafka itself sees it: end offsets minus the group's committed offsets. */
export function groupLag(topic: string, group: string, broker = KAFKA): Promise<number> {
  return withTestAdmin(broker, async (admin) => {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    let lag = 0;
    for (const end of ends) {
      const at = committed.partitions.find((partition) => partition.partition === end.partition);
      const offset = Number(at?.offset ?? -1);
      lag += Number(end.high) - (offset < 0 ? 0 : offset);
    }
    return lag;
  });
}

/** Runs `stack/stack.sh` (start, stop and kill the real servers, manage users). */
export async function stack(...args: string[]): Promise<void> {
  await run("bash", [`${REPO_ROOT}stack/stack.sh`, ...args], { timeoutMs: 300_000 });
}

/** `/readyz` of a bridge: its status, the checks it reports and their problems. */
export async function readiness(
  bridge: BridgeProcess,
): Promise<{ status: number; checks: Record<string, boolean>; problems: Record<string, string> }> {
  const response = await fetch(`http://127.0.0.1:${bridge.port}/readyz`);
  const body = await response.json();
  return { status: response.status, checks: body.checks, problems: body.problems ?? {} };
}

/** Whether the bridge process is still running (not crashed, not exited). */
export async function alive(bridge: BridgeProcess): Promise<boolean> {
  const exited = await Promise.race([
    bridge.child.status.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 50)),
  ]);
  return !exited;
}

/** The lines of the bridge's log that contain `text`. */
export async function logLines(bridge: BridgeProcess, text: string): Promise<string[]> {
  return (await Deno.readTextFile(bridge.logPath)).split("\n").filter((line) => line.includes(text));
}

/** Waits until the bridge's log contains `text`. */
export async function waitForLog(bridge: BridgeProcess, text: string, timeoutMs = 60_000): Promise<string> {
  return await waitFor(
    `"${text}" in ${bridge.logPath}`,
    async () => (await logLines(bridge, text))[0],
    timeoutMs,
    500,
  );
}
