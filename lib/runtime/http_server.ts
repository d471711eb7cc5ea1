/**
 * The HTTP endpoints, on `Deno.serve`: `/metrics` (Prometheus), `/healthz` (the process is
 * alive) and `/readyz` (connected to Kafka and Elasticsearch; 503 naming the failing checks and
 * their problems otherwise).
 */
import type { Registry } from "prom-client";
import type { Readiness } from "./health.ts";
import { ConfigError } from "../config/parse.ts";

export function handleRequest(
  request: Request,
  registry: Registry,
  readiness: () => Readiness,
): Promise<Response> | Response {
  const { pathname } = new URL(request.url);
  switch (pathname) {
    case "/metrics":
      return registry.metrics().then((body) =>
        new Response(body, { headers: { "content-type": registry.contentType } })
      );
    case "/healthz":
      return new Response("ok\n");
    case "/readyz": {
      const report = readiness();
      return Response.json(report, { status: report.ready ? 200 : 503 });
    }
    default:
      return new Response("not found; try /metrics, /healthz or /readyz\n", { status: 404 });
  }
}

/** Serves the endpoints on `hostname` (`PROMETHEUS_CLIENT_HOST`) and `port`. */
export function serveHttp(
  { hostname, port }: { hostname: string; port: number },
  registry: Registry,
  readiness: () => Readiness,
  onListen: (address: { hostname: string; port: number }) => void,
): Deno.HttpServer {
  return Deno.serve(
    { port, hostname, onListen: ({ hostname, port }) => onListen({ hostname, port }) },
    (request) => handleRequest(request, registry, readiness),
  );
}

/**
 * Why the endpoints could not listen, as the setting to fix: the port is taken or below 1024
 * for a user who may not (`PROMETHEUS_CLIENT_PORT`), or the address is none of this host's
 * (`PROMETHEUS_CLIENT_HOST`).
 */
export function listenError(error: unknown, { hostname, port }: { hostname: string; port: number }): ConfigError {
  const reason = (error as Error).message;
  if (error instanceof Deno.errors.AddrInUse) {
    return new ConfigError("PROMETHEUS_CLIENT_PORT", `a port free on ${hostname} (${reason})`, String(port));
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new ConfigError("PROMETHEUS_CLIENT_PORT", `a port this user may listen on (${reason})`, String(port));
  }
  return new ConfigError("PROMETHEUS_CLIENT_HOST", `an address of this host to listen on (${reason})`, hostname);
}
