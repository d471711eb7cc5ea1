/** The benchmark's input: pmacct records shaped like Debian nfacctd's output, varied so documents differ. */
import { FIXTURES } from "../tests/support/fixtures.ts";

const samples = Deno.readTextFileSync(`${FIXTURES}/debian-pmacct-1.7.7/nfacctd-softflowd-v9-utc.json`)
  .split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));

/** The `i`-th record: a fixture record with its port, bytes and packets varied by `i`. */
export function benchRecord(i: number): string {
  const value = { ...samples[i % samples.length] };
  value.port_src = 1024 + (i % 60_000);
  value.bytes = 40 + (i % 1500);
  value.packets = 1 + (i % 7);
  return JSON.stringify(value);
}
