/**
 * pmacct's daemons beside its flow collectors, run live for a test: `pmbmpd` (BMP), and
 * `pmtelemetryd` (streaming telemetry), each writing its message log to the real Kafka.
 */
import { KAFKA, waitFor } from "./stack.ts";

/** A running daemon: `stop` ends it (once, however often called) and gives back what it logged. */
export interface RunningDaemon {
  port: number;
  stop(): Promise<string>;
}

let nextPort = 17_400 + Math.floor(Math.random() * 500);

/**
 * Starts `/usr/sbin/<daemon>` with `config` (its message log to `topic` is added, as pmacct's
 * `<prefix>_msglog_kafka_*` settings), in UTC, and waits until it logs `listening`.
 */
async function startDaemon(
  daemon: "pmbmpd" | "pmtelemetryd",
  prefix: string,
  config: (port: number) => string[],
  topic: string,
  listening: string,
): Promise<RunningDaemon> {
  const port = nextPort++;
  const [host, brokerPort] = KAFKA.split(":");
  const dir = await Deno.makeTempDir({ prefix: `${daemon}-` });
  const lines = [
    ...config(port),
    `${prefix}_msglog_output: json`,
    `${prefix}_msglog_kafka_topic: ${topic}`,
    `${prefix}_msglog_kafka_broker_host: ${host}`,
    `${prefix}_msglog_kafka_broker_port: ${brokerPort}`,
  ];
  await Deno.writeTextFile(`${dir}/${daemon}.conf`, lines.join("\n") + "\n");
  const child = new Deno.Command(`/usr/sbin/${daemon}`, {
    args: ["-f", `${dir}/${daemon}.conf`],
    cwd: dir,
    env: { TZ: "UTC" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let output = "";
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) output += chunk;
  })();
  let stopping: Promise<string> | undefined;
  // Once: every later call gets the same log.
  const stop = () => stopping ??= stopOnce();
  const stopOnce = async () => {
    // pmacct's daemons end on SIGINT (they ignore SIGTERM); one that hangs is killed.
    const kill = (signal: Deno.Signal) => {
      try {
        child.kill(signal);
      } catch {
        // exited already
      }
    };
    kill("SIGINT");
    const timer = setTimeout(() => kill("SIGKILL"), 10_000);
    await child.status;
    clearTimeout(timer);
    await reading;
    await Deno.remove(dir, { recursive: true });
    return output;
  };
  try {
    await waitFor(`${daemon} listening on ${port}`, () => Promise.resolve(output.includes(listening)), 20_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}; it logged: ${(await stop()).slice(-2000)}`);
  }
  return { port, stop };
}

/** `pmbmpd` on 127.0.0.1, its BMP message log to `topic`. */
export function startPmbmpd(topic: string): Promise<RunningDaemon> {
  return startDaemon(
    "pmbmpd",
    "bmp_daemon",
    (port) => ["bmp_daemon_ip: 127.0.0.1", `bmp_daemon_port: ${port}`],
    topic,
    "waiting for BMP data",
  );
}

/** `pmtelemetryd` on 127.0.0.1 taking JSON over UDP, its message log to `topic`. */
export function startPmtelemetryd(topic: string): Promise<RunningDaemon> {
  return startDaemon(
    "pmtelemetryd",
    "telemetry_daemon",
    (port) => [
      "telemetry_daemon_ip: 127.0.0.1",
      `telemetry_daemon_port_udp: ${port}`,
      "telemetry_daemon_decoder: json",
    ],
    topic,
    "waiting for telemetry data",
  );
}
