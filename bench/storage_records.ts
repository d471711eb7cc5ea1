/**
 * The storage benchmark's data set: pmacct records shaped like Debian nfacctd's output (the
 * fixture's fields, in its order), with addresses, ports, protocols, counters and times varied
 * over one day the way a collector's traffic varies. Seeded, so every run indexes the same flows.
 */
import { FIXTURES } from "../tests/support/fixtures.ts";

/** mulberry32: a small seeded generator, enough for test data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const shape = JSON.parse(
  Deno.readTextFileSync(`${FIXTURES}/debian-pmacct-1.7.7/nfacctd-softflowd-v9-utc.json`).split("\n")[0],
);
const SERVICES = [53, 80, 123, 443, 443, 443, 22, 25, 993, 3389, 8080, 5353];
const EXPORTERS = ["192.0.2.1", "192.0.2.2", "198.51.100.7", "203.0.113.20"];
const DAY_MS = 86_400_000;
const START_MS = Date.UTC(2026, 10, 24);

const pad = (n: number, width = 2) => String(n).padStart(width, "0");
/** pmacct's UTC text, with microseconds when `micros` is given. */
function utc(ms: number, micros?: number): string {
  const d = new Date(ms);
  const text = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${
    pad(d.getUTCMinutes())
  }:${pad(d.getUTCSeconds())}`;
  return micros === undefined ? text : `${text}.${pad(micros, 6)}`;
}

/** JSON as pmacct's jansson prints it: `{"a": 1, "b": "x"}`. */
function pmacctJson(record: Record<string, unknown>): string {
  return `{${
    Object.entries(record).map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`).join(", ")
  }}`;
}

/** `count` records as pmacct's JSON lines, in the order a collector purges them (by time, roughly). */
export function storageRecords(count: number, seed = 17): string[] {
  const next = random(seed);
  const pick = <T>(values: readonly T[]) => values[Math.floor(next() * values.length)];
  const byte = () => Math.floor(next() * 256);
  const records: string[] = [];
  for (let i = 0; i < count; i++) {
    const startMs = START_MS + Math.floor((i / count) * DAY_MS) - Math.floor(next() * 60_000);
    const durationMs = next() < 0.6 ? 0 : Math.floor(next() * 60_000);
    const endMs = startMs + durationMs;
    const arrivalMs = endMs + 1000 + Math.floor(next() * 30_000);
    const bucketMs = startMs - (startMs % 300_000);
    const v6 = next() < 0.1;
    const address = (inside: boolean) =>
      v6
        ? `2001:db8:${(inside ? 0 : 1 + byte()).toString(16)}::${Math.floor(next() * 65536).toString(16)}`
        : inside
        ? `10.${byte() % 16}.${byte()}.${byte()}`
        : `${1 + (byte() % 223)}.${byte()}.${byte()}.${byte()}`;
    const protocol = next() < 0.55 ? "tcp" : next() < 0.93 ? "udp" : "icmp";
    const outbound = next() < 0.5;
    const packets = 1 + Math.floor(next() ** 3 * 200);
    const record = {
      ...shape,
      peer_ip_src: pick(EXPORTERS),
      iface_in: pick([1, 2, 3]),
      iface_out: pick([1, 2, 3]),
      ip_src: address(outbound),
      ip_dst: address(!outbound),
      port_src: protocol === "icmp" ? 0 : 1024 + Math.floor(next() * 64_000),
      port_dst: protocol === "icmp" ? 0 : pick(SERVICES),
      tcp_flags: protocol === "tcp" ? pick(["2", "16", "18", "24", "27"]) : "0",
      ip_proto: protocol,
      tos: next() < 0.9 ? 0 : pick([8, 32, 184]),
      timestamp_start: utc(startMs, 0),
      timestamp_end: utc(endMs, 0),
      timestamp_arrival: utc(arrivalMs, Math.floor(next() * 1_000_000)),
      stamp_inserted: utc(bucketMs),
      stamp_updated: utc(bucketMs + 300_000 + Math.floor(next() * 60_000)),
      packets,
      bytes: packets * (40 + Math.floor(next() * 1460)),
    };
    records.push(pmacctJson(record));
  }
  return records;
}
