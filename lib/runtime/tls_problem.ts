/**
 * Tells a TLS failure from other connection errors by its message (from Deno's TLS, Node's
 * `tls` codes as Deno reports them, or the server's alert), so the log and `/readyz` can say
 * what to fix instead of "cannot reach".
 *
 * @example
 * ```ts
 * tlsProblem("unable to verify the first certificate"); // "certificate is not trusted"
 * tlsProblem("connect ECONNREFUSED 127.0.0.1:9200");   // undefined
 * ```
 */
const PROBLEMS: Array<[RegExp, string]> = [
  [/altname|NotValidForName|does not match|hostname mismatch/i, "certificate does not match the host name"],
  [/expired|NotValidYet|not yet valid/i, "certificate has expired or is not valid yet"],
  [
    /unable to verify|self[- ]signed|UnknownIssuer|local issuer|unable to get issuer|certificate chain|CERT_UNTRUSTED/i,
    "certificate is not trusted",
  ],
  [
    /BadCertificate|bad certificate|CertificateRequired|certificate required|UnknownCA|unknown ca/i,
    "client certificate was refused",
  ],
  [
    /wrong version number|packet length too long|InvalidContentType|CorruptMessage/i,
    "server does not speak TLS on this port",
  ],
];

/** What is wrong with TLS according to `message`, or `undefined` when it is not a TLS failure. */
export function tlsProblem(message: string): string | undefined {
  return PROBLEMS.find(([pattern]) => pattern.test(message))?.[1];
}
