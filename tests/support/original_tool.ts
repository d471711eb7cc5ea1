/**
 * The original Python tool (`../shared/seed`), run unchanged on Debian's packages
 * (`bench/install.sh`) as the benchmark runs it, in an operator's directory beside its `.env`;
 * and the group and partition reads that show who owns what.
 */
import kafkajs, { type Admin, AssignerProtocol, Kafka, logLevel, type Producer } from "kafkajs";
import { withAdmin } from "../../lib/kafka/client.ts";
import { REPO_ROOT, SHARED } from "./fixtures.ts";
import { KAFKA } from "./stack.ts";

/**
 * An operator's directory with the original tool as its README installs it: the script, its
 * template and a `.env`, which the bridge then reads unchanged from the same directory.
 */
export async function operatorDirectory(env: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "operator-" });
  for (const file of ["pmacct-kafka-elastic.py", "new-index-template.json"]) {
    await Deno.copyFile(`${SHARED}/seed/${file}`, `${dir}/${file}`);
  }
  await Deno.writeTextFile(`${dir}/.env`, Object.entries(env).map(([name, value]) => `${name}=${value}\n`).join(""));
  return dir;
}

export interface PythonProcess {
  child: Deno.ChildProcess;
  output(): string;
  stop(): Promise<Deno.CommandStatus>;
}

function spawnPython(args: string[], cwd: string, env: Record<string, string>): PythonProcess {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-u", ...args],
    cwd,
    env: { PYTHONWARNINGS: "ignore", TZ: "UTC", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  for (const stream of [child.stdout, child.stderr]) {
    (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
    })().catch(() => {});
  }
  return {
    child,
    output: () => output,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      return await child.status;
    },
  };
}

/**
 * The original tool in `dir`. `env` overrides its `.env` for this process only (its metrics
 * port, and one record per bulk request so that its own batching, which holds a partial batch
 * until a later record arrives, is not what a test measures).
 */
export function startOriginal(dir: string, env: Record<string, string>): PythonProcess {
  return spawnPython([`${REPO_ROOT}bench/run_original.py`, "pmacct-kafka-elastic.py"], dir, env);
}

/** A kafka-python member of `group` offering only `protocols` (`tests/support/kafka_python_member.py`). */
export function startKafkaPythonMember(topic: string, group: string, protocols: string): PythonProcess {
  return spawnPython(
    [`${REPO_ROOT}tests/support/kafka_python_member.py`, KAFKA, topic, group, protocols],
    REPO_ROOT,
    {},
  );
}

const quietKafka = () => new Kafka({ clientId: "test-original", brokers: [KAFKA], logLevel: logLevel.NOTHING });

function withTestAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
  return withAdmin(quietKafka(), use);
}

export function createTopic(topic: string, partitions: number): Promise<unknown> {
  return withTestAdmin((admin) =>
    admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
  );
}

/** A member of a group as Kafka describes it: its client and its partitions of `topic`. */
export interface GroupMember {
  clientId: string;
  partitions: number[];
}

/** The group's state, chosen protocol and members, when it is stable. */
export async function describeGroup(
  group: string,
  topic: string,
): Promise<{ state: string; protocol: string; members: GroupMember[] }> {
  const { groups: [description] } = await withTestAdmin((admin) => admin.describeGroups([group]));
  return {
    state: description.state,
    protocol: description.protocol,
    members: description.members.map(({ clientId, memberAssignment }) => ({
      clientId,
      partitions: memberAssignment.length === 0
        ? []
        : AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment[topic] ?? [],
    })),
  };
}

/** A flow record whose `tag` names it, so that each can be found once among both tools' documents. */
export function taggedRecord(tag: string): string {
  const now = new Date().toISOString().replace("T", " ").replace("Z", "000");
  return JSON.stringify({
    event_type: "purge",
    ip_src: "10.1.0.1",
    ip_dst: "10.2.0.2",
    port_src: 40_000,
    port_dst: 443,
    ip_proto: "tcp",
    packets: 1,
    bytes: 100,
    tag,
    timestamp_start: now,
    timestamp_end: now,
  });
}

/** Writes `count` tagged records to one partition: `<label>-<first>` to `<label>-<first + count - 1>`. */
export async function produceTagged(
  topic: string,
  partition: number,
  label: string,
  first: number,
  count: number,
): Promise<string[]> {
  const tags = Array.from({ length: count }, (_, i) => `${label}-${first + i}`);
  const producer: Producer = quietKafka().producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    for (let i = 0; i < tags.length; i += 500) {
      await producer.send({
        topic,
        messages: tags.slice(i, i + 500).map((tag) => ({ partition, value: taggedRecord(tag) })),
      });
    }
  } finally {
    await producer.disconnect();
  }
  return tags;
}
