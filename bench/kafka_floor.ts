/**
 * The floor under the bridge's memory: kafkajs alone, in a process that has loaded every module
 * the bridge loads (the search clients, prom-client), fetching as the bridge fetches
 * (`FETCH_OPTIONS`) at the pace the bridge drained, and holding the last `FLOOR_HOLD` values as
 * the bridge's buffer holds records. Nothing is decoded or sent. Run by `runKafkaFloor`
 * (`bench/shippers.ts`), which reads the JSON line this prints.
 *
 * Env: `FLOOR_BROKERS`, `FLOOR_TOPIC`, `FLOOR_GROUP`, `FLOOR_RECORDS`, `FLOOR_RATE` (records/s), `FLOOR_HOLD`.
 */
import { Kafka, logLevel } from "kafkajs";
import { FETCH_OPTIONS } from "../lib/kafka/consumer.ts";
import { cpuSeconds } from "./process_stats.ts";

const env = (name: string) => {
  const value = Deno.env.get(name);
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};
const topic = env("FLOOR_TOPIC");
const records = Number(env("FLOOR_RECORDS"));
const rate = Number(env("FLOOR_RATE"));
const hold = Number(env("FLOOR_HOLD"));

// Every module main.ts imports, loaded as the bridge loads them (and left unused).
const main = new URL("../main.ts", import.meta.url);
for (const [, specifier] of Deno.readTextFileSync(main).matchAll(/^import .* from "(\.[^"]+)";$/gm)) {
  await import(new URL(specifier, main).href);
}

const kafka = new Kafka({
  clientId: "bench-floor",
  brokers: env("FLOOR_BROKERS").split(","),
  logLevel: logLevel.NOTHING,
});
const consumer = kafka.consumer({ groupId: env("FLOOR_GROUP"), ...FETCH_OPTIONS });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
const ready = performance.now();
const readyCpu = cpuSeconds(Deno.pid);
const held: Array<Uint8Array | null> = [];
let consumed = 0;
await new Promise<void>((resolve) => {
  consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) held.push(message.value);
      if (held.length > hold) held.splice(0, held.length - hold);
      consumed += batch.messages.length;
      // The bridge's pace: each batch takes as long as the bridge took for as many records.
      await new Promise((wait) => setTimeout(wait, (1000 * batch.messages.length) / rate));
      if (consumed >= records) resolve();
    },
  });
});
const seconds = (performance.now() - ready) / 1000;
const cpu = cpuSeconds(Deno.pid) - readyCpu;
const peakKb = Number(/VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${Deno.pid}/status`))![1]);
console.log(JSON.stringify({ records: consumed, seconds, readyCpu, cpu, peakRssMb: peakKb / 1024 }));
await consumer.disconnect();
Deno.exit(0);
