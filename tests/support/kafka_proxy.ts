/**
 * A TCP proxy in front of one real Kafka broker that speaks just enough of Kafka's protocol to
 * stand between a client and the broker, and to take a partition out of the broker's Fetch
 * answers: the client then has the partition assigned and fetches it, and never gets a batch of
 * it, which is how kafkajs behaves when it keeps a partition assigned without fetching it
 * (kafkajs #1456). The broker's address in Metadata and FindCoordinator answers becomes the
 * proxy's, so that every connection of a client that bootstraps here comes through it. Test code
 * only.
 *
 * @example
 * ```ts
 * const proxy = startKafkaProxy("127.0.0.1:9092");
 * proxy.hidden.add("flows:1"); // the broker's answers to Fetch lose partition 1 of "flows"
 * await proxy.close();
 * ```
 */
import { Buffer } from "node:buffer";

const FETCH = 1;
const METADATA = 3;
const FIND_COORDINATOR = 10;

export interface KafkaProxy {
  /** `127.0.0.1:<port>`, for `KAFKA_BOOTSTRAP_SERVERS`. */
  address: string;
  /** Partitions (`topic:partition`) taken out of every Fetch answer while they are here. */
  hidden: Set<string>;
  /** Fetch answers that had a hidden partition taken out. */
  answersCut: number;
  close(): Promise<void>;
}

export function startKafkaProxy(upstream: string): KafkaProxy {
  const [upstreamHost, upstreamPort] = upstream.split(":");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const connections = new Set<Deno.Conn>();
  const proxy: KafkaProxy = {
    address: `127.0.0.1:${port}`,
    hidden: new Set(),
    answersCut: 0,
    async close() {
      listener.close();
      for (const connection of connections) closeQuietly(connection);
      await accepting;
    },
  };
  const readdress = (body: Buffer, at: number): number => {
    const hostLength = body.readInt16BE(at);
    const host = body.toString("utf8", at + 2, at + 2 + hostLength);
    const portAt = at + 2 + hostLength;
    if (host === upstreamHost && body.readInt32BE(portAt) === Number(upstreamPort)) body.writeInt32BE(port, portAt);
    return portAt + 4;
  };
  const answer = (request: { apiKey: number; apiVersion: number } | undefined, frame: Buffer): Buffer => {
    if (request === undefined) return frame;
    const { apiKey, apiVersion } = request;
    if (apiKey === METADATA) {
      if (apiVersion > 8) throw new Error(`Metadata v${apiVersion} is flexible: the proxy reads up to v8`);
      let at = 8 + (apiVersion >= 3 ? 4 : 0);
      const brokers = frame.readInt32BE(at);
      at += 4;
      for (let i = 0; i < brokers; i++) {
        at = readdress(frame, at + 4);
        if (apiVersion >= 1) at = skipNullableString(frame, at);
      }
      return frame;
    }
    if (apiKey === FIND_COORDINATOR) {
      if (apiVersion > 2) throw new Error(`FindCoordinator v${apiVersion} is flexible: the proxy reads up to v2`);
      const at = apiVersion >= 1 ? skipNullableString(frame, 8 + 4 + 2) : 8 + 2;
      readdress(frame, at + 4);
      return frame;
    }
    if (apiKey === FETCH && proxy.hidden.size > 0) return cutFetchAnswer(frame, apiVersion);
    return frame;
  };
  const cutFetchAnswer = (frame: Buffer, apiVersion: number): Buffer => {
    if (apiVersion < 4 || apiVersion > 11) throw new Error(`Fetch v${apiVersion}: the proxy reads v4 to v11`);
    let at = 8 + 4 + (apiVersion >= 7 ? 6 : 0);
    const parts: Buffer[] = [frame.subarray(4, at + 4)];
    const topics = frame.readInt32BE(at);
    at += 4;
    let cut = false;
    for (let t = 0; t < topics; t++) {
      const topicLength = frame.readInt16BE(at);
      const topic = frame.toString("utf8", at + 2, at + 2 + topicLength);
      parts.push(frame.subarray(at, at + 2 + topicLength));
      at += 2 + topicLength;
      const partitions = frame.readInt32BE(at);
      at += 4;
      const kept: Buffer[] = [];
      for (let p = 0; p < partitions; p++) {
        const start = at;
        const partition = frame.readInt32BE(at);
        at += 4 + 2 + 8 + 8 + (apiVersion >= 5 ? 8 : 0);
        const aborted = frame.readInt32BE(at);
        at += 4 + Math.max(0, aborted) * 16;
        if (apiVersion >= 11) at += 4;
        const records = frame.readInt32BE(at);
        at += 4 + Math.max(0, records);
        if (proxy.hidden.has(`${topic}:${partition}`)) cut = true;
        else kept.push(frame.subarray(start, at));
      }
      parts.push(int32(kept.length), ...kept);
    }
    if (!cut) return frame;
    proxy.answersCut++;
    const body = Buffer.concat(parts);
    return Buffer.concat([int32(body.length), body]);
  };
  const serve = async (client: Deno.Conn) => {
    connections.add(client);
    let broker: Deno.Conn | undefined;
    try {
      broker = await Deno.connect({ hostname: upstreamHost, port: Number(upstreamPort) });
      connections.add(broker);
      const requests = new Map<number, { apiKey: number; apiVersion: number }>();
      await Promise.all([
        relay(client, broker, (frame) => {
          requests.set(frame.readInt32BE(8), { apiKey: frame.readInt16BE(4), apiVersion: frame.readInt16BE(6) });
          return frame;
        }),
        relay(broker, client, (frame) => {
          const correlationId = frame.readInt32BE(4);
          const request = requests.get(correlationId);
          requests.delete(correlationId);
          return answer(request, frame);
        }),
      ]);
    } catch {
      // One side went away: the other is closed below, as a broker's would be.
    } finally {
      for (const connection of [client, broker]) {
        if (connection === undefined) continue;
        connections.delete(connection);
        closeQuietly(connection);
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const client of listener) serve(client);
    } catch {
      // closed
    }
  })();
  return proxy;
}

/** Copies `from` to `to` a whole Kafka frame at a time, each passed through `change`. */
async function relay(from: Deno.Conn, to: Deno.Conn, change: (frame: Buffer) => Buffer): Promise<void> {
  // Bytes read and not yet relayed are `pending[start, end)`; it grows by doubling.
  let pending = Buffer.alloc(1024 * 1024);
  let start = 0;
  let end = 0;
  while (true) {
    if (end === pending.length) {
      const grown = Buffer.alloc(end - start < pending.length / 2 ? pending.length : pending.length * 2);
      end = pending.copy(grown, 0, start, end);
      start = 0;
      pending = grown;
    }
    const read = await from.read(pending.subarray(end));
    if (read === null) break;
    end += read;
    while (end - start >= 4 && end - start >= 4 + pending.readInt32BE(start)) {
      const size = 4 + pending.readInt32BE(start);
      const out = change(Buffer.from(pending.subarray(start, start + size)));
      start += size;
      for (let written = 0; written < out.length;) written += await to.write(out.subarray(written));
    }
  }
  closeQuietly(to);
}

function skipNullableString(frame: Buffer, at: number): number {
  return at + 2 + Math.max(0, frame.readInt16BE(at));
}

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}

function closeQuietly(connection: Deno.Conn): void {
  try {
    connection.close();
  } catch {
    // already closed
  }
}
