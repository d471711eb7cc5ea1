/**
 * Teaches kafkajs the compression codecs pmacct's producer (librdkafka) may use. kafkajs
 * decodes gzip itself; snappy, lz4 and zstd need codecs, and the usual ones are native addons
 * that a `deno compile` binary cannot load. These are pure JavaScript or built into Deno.
 *
 * @example
 * ```ts
 * registerCompressionCodecs(); // once, before the consumer starts
 * ```
 */
import { promisify } from "node:util";
import zlib from "node:zlib";
import { Buffer } from "node:buffer";
import { CompressionCodecs, CompressionTypes } from "kafkajs";
import SnappyCodec from "kafkajs-snappy";
import lz4 from "lz4js";

const zstdCompress = promisify(zlib.zstdCompress);
const zstdDecompress = promisify(zlib.zstdDecompress);

/** An encoder as kafkajs hands it to a codec's `compress`. */
interface Encoder {
  buffer: Buffer;
}

/** Kafka's LZ4 is the standard LZ4 frame format, which lz4js reads and writes. */
function lz4Codec() {
  return {
    compress: (encoder: Encoder) => Promise.resolve(Buffer.from(lz4.compress(encoder.buffer))),
    decompress: (buffer: Buffer) => Promise.resolve(Buffer.from(lz4.decompress(buffer))),
  };
}

/** Deno implements Node's zstd functions natively, so no addon or WebAssembly is needed. */
function zstdCodec() {
  return {
    compress: async (encoder: Encoder) => await zstdCompress(encoder.buffer),
    decompress: async (buffer: Buffer) => await zstdDecompress(buffer),
  };
}

/** Registers snappy, lz4 and zstd in kafkajs' codec table (gzip is built in). */
export function registerCompressionCodecs(): void {
  CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec;
  CompressionCodecs[CompressionTypes.LZ4] = lz4Codec;
  CompressionCodecs[CompressionTypes.ZSTD] = zstdCodec;
}
