/**
 * IP address text to its bytes in network order, as pmacct prints addresses: dotted IPv4 and
 * RFC 4291 IPv6 (with `::` and a trailing dotted IPv4). Pure.
 *
 * @example
 * ```ts
 * addressBytes("10.0.0.1"); // Uint8Array [10, 0, 0, 1]
 * addressBytes("2001:db8::1")?.length; // 16
 * addressBytes("10.0.0"); // undefined
 * ```
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const GROUP = /^[0-9a-fA-F]{1,4}$/;

function ipv4Bytes(text: string): Uint8Array | undefined {
  const match = IPV4.exec(text);
  if (match === null) return undefined;
  const bytes = match.slice(1).map(Number);
  return bytes.every((byte) => byte <= 255) ? new Uint8Array(bytes) : undefined;
}

/** The groups of one side of `::`, a trailing dotted IPv4 counting as two; `undefined` if malformed. */
function groups(text: string, last: boolean): number[] | undefined {
  if (text === "") return [];
  const parts = text.split(":");
  const result: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (last && i === parts.length - 1 && part.includes(".")) {
      const v4 = ipv4Bytes(part);
      if (v4 === undefined) return undefined;
      result.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (GROUP.test(part)) {
      result.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return result;
}

function ipv6Bytes(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = groups(halves[0], halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1], true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

/** 4 bytes for IPv4, 16 for IPv6, `undefined` for anything else. */
export function addressBytes(text: string): Uint8Array | undefined {
  return text.includes(":") ? ipv6Bytes(text) : ipv4Bytes(text);
}
