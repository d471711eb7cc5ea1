/**
 * `ELASTIC_CA_FINGERPRINT`: finds, among the certificates a node presents, the CA whose SHA-256
 * fingerprint the operator gave, and returns it as PEM to be trusted like `ELASTIC_CA_FILE`.
 * From then on every connection is verified as usual (chain and host name); the fingerprint
 * only chooses which CA to trust, as Elasticsearch 8's enrolment does.
 *
 * Hand-written because Deno's `node:tls` shows a client only the leaf certificate (no
 * `issuerCertificate`), so the Elasticsearch client's own `caFingerprint` check cannot run
 * there. The chain is read from a TLS 1.2 handshake that is cut short after the server's
 * Certificate message, which TLS 1.2 sends unencrypted; nothing is sent over it.
 */
import { X509Certificate } from "node:crypto";

const CIPHER_SUITES = [0xc02f, 0xc030, 0xc02b, 0xc02c, 0xcca8, 0xcca9, 0x009c, 0x009d];
const GROUPS = [0x001d, 0x0017, 0x0018];
const SIGNATURE_ALGORITHMS = [0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0403, 0x0503, 0x0603];

const u16 = (value: number) => [(value >> 8) & 0xff, value & 0xff];
const u24 = (value: number) => [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
const list16 = (values: number[]) => values.flatMap(u16);
const extension = (type: number, body: number[]) => [...u16(type), ...u16(body.length), ...body];

function clientHello(host: string): Uint8Array {
  const extensions = [
    ...extension(0x000a, [...u16(GROUPS.length * 2), ...list16(GROUPS)]),
    ...extension(0x000b, [1, 0]),
    ...extension(0x000d, [...u16(SIGNATURE_ALGORITHMS.length * 2), ...list16(SIGNATURE_ALGORITHMS)]),
    ...extension(0xff01, [0]),
  ];
  if (!/^[\d.]+$|:/.test(host)) {
    const name = [...new TextEncoder().encode(host)];
    extensions.push(...extension(0x0000, [...u16(name.length + 3), 0, ...u16(name.length), ...name]));
  }
  const body = [
    3,
    3,
    ...crypto.getRandomValues(new Uint8Array(32)),
    0,
    ...u16(CIPHER_SUITES.length * 2),
    ...list16(CIPHER_SUITES),
    1,
    0,
    ...u16(extensions.length),
    ...extensions,
  ];
  const handshake = [1, ...u24(body.length), ...body];
  return new Uint8Array([0x16, 3, 1, ...u16(handshake.length), ...handshake]);
}

/** Collects handshake bytes from TLS records until the Certificate message is complete. */
class HandshakeReader {
  #records = new Uint8Array(0);
  #handshake: number[] = [];

  /** Feeds received bytes; returns the certificates (DER) once the Certificate message is in. */
  feed(bytes: Uint8Array): Uint8Array[] | undefined {
    const joined = new Uint8Array(this.#records.length + bytes.length);
    joined.set(this.#records);
    joined.set(bytes, this.#records.length);
    let at = 0;
    while (joined.length - at >= 5) {
      const type = joined[at];
      const length = (joined[at + 3] << 8) | joined[at + 4];
      if (joined.length - at < 5 + length) break;
      const fragment = joined.subarray(at + 5, at + 5 + length);
      if (type === 0x15) throw new Error(`the server ended the TLS 1.2 handshake (alert ${fragment[1]})`);
      if (type === 0x16) this.#handshake.push(...fragment);
      at += 5 + length;
    }
    this.#records = joined.slice(at);
    return this.#certificates();
  }

  #certificates(): Uint8Array[] | undefined {
    const data = this.#handshake;
    let at = 0;
    while (data.length - at >= 4) {
      const type = data[at];
      const length = (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3];
      if (data.length - at < 4 + length) return undefined;
      if (type === 11) {
        const certificates: Uint8Array[] = [];
        let position = at + 7;
        while (position < at + 4 + length) {
          const size = (data[position] << 16) | (data[position + 1] << 8) | data[position + 2];
          certificates.push(new Uint8Array(data.slice(position + 3, position + 3 + size)));
          position += 3 + size;
        }
        return certificates;
      }
      at += 4 + length;
    }
    return undefined;
  }
}

/** The certificates (DER) `host:port` presents in a TLS 1.2 handshake, leaf first. */
export async function presentedCertificates(host: string, port: number, timeoutMs = 10_000): Promise<Uint8Array[]> {
  const connection = await Deno.connect({ hostname: host.replace(/^\[|\]$/g, ""), port });
  const timer = setTimeout(() => connection.close(), timeoutMs);
  try {
    await connection.write(clientHello(host));
    const reader = new HandshakeReader();
    const buffer = new Uint8Array(16_384);
    for (;;) {
      const read = await connection.read(buffer);
      if (read === null) throw new Error("the server closed the connection during the TLS handshake");
      const certificates = reader.feed(buffer.subarray(0, read));
      if (certificates) return certificates;
    }
  } catch (error) {
    if (error instanceof Deno.errors.BadResource) throw new Error(`no TLS answer within ${timeoutMs} ms`);
    throw error;
  } finally {
    clearTimeout(timer);
    try {
      connection.close();
    } catch {
      // closed by the timer
    }
  }
}

function toPem(der: Uint8Array): string {
  const base64 = btoa(String.fromCharCode(...der));
  return `-----BEGIN CERTIFICATE-----\n${base64.match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/** Raised when the node answers but presents no certificate with the fingerprint. */
export class FingerprintMismatch extends Error {
  constructor(url: string, fingerprint: string, presented: X509Certificate[]) {
    const seen = presented.map((certificate) =>
      `${certificate.subject.replace(/\n/g, ", ")} ${certificate.fingerprint256}`
    );
    super(
      `no certificate that ${url} presents has the SHA-256 fingerprint ELASTIC_CA_FINGERPRINT=${fingerprint} (it presents: ${
        seen.join("; ")
      })`,
    );
    this.name = "FingerprintMismatch";
  }
}

/**
 * The PEM of the certificate with `fingerprint` (`AA:BB:...`) among those the node at `url`
 * presents; throws {@linkcode FingerprintMismatch} if there is none.
 */
export async function caWithFingerprint(url: string, fingerprint: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const certificates = await presentedCertificates(hostname, Number(port || 443));
  const parsed = certificates.map((der) => new X509Certificate(der));
  const index = parsed.findIndex((certificate) => certificate.fingerprint256 === fingerprint);
  if (index < 0) throw new FingerprintMismatch(url, fingerprint, parsed);
  return toPem(certificates[index]);
}
