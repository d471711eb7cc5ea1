/**
 * Reads the local broker's log segments to tell which compression codecs the producer really
 * used: kcat and kafkajs hand out decompressed records and never say.
 */
import { REPO_ROOT } from "./fixtures.ts";

const CODEC_NAMES = ["none", "gzip", "snappy", "lz4", "zstd"];

/**
 * Codec name → number of record batches, over every partition of `topic`. Walks the record
 * batch headers (v2 format: base offset, length, leader epoch, magic, CRC, attributes).
 */
export function batchCodecs(topic: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const dataDir = `${REPO_ROOT}.stack/data/kafka`;
  for (const entry of Deno.readDirSync(dataDir)) {
    if (!entry.isDirectory || !new RegExp(`^${topic.replace(/[.]/g, "\\.")}-\\d+$`).test(entry.name)) continue;
    for (const file of Deno.readDirSync(`${dataDir}/${entry.name}`)) {
      if (!file.name.endsWith(".log")) continue;
      const bytes = Deno.readFileSync(`${dataDir}/${entry.name}/${file.name}`);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let position = 0; position + 23 <= bytes.length;) {
        const batchLength = view.getInt32(position + 8);
        if (batchLength <= 0) break;
        const codec = CODEC_NAMES[view.getInt16(position + 21) & 7] ?? "unknown";
        counts[codec] = (counts[codec] ?? 0) + 1;
        position += 12 + batchLength;
      }
    }
  }
  return counts;
}
