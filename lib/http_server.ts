/**
 * The HTTP endpoints, on `Deno.serve`: `/metrics` (Prometheus), `/healthz` (the process is
 * alive) and `/readyz` (connected to Kafka and Elasticsearch; 503 with the reasons otherwise).
 */
import type { Registry } from "prom-client";

/** Readiness checks by name; each answers whether that dependency is fine right now. */
export type ReadinessChecks = Record<string, () => boolean>;

export function handleRequest(
  request: Request,
  registry: Registry,
  checks: ReadinessChecks,
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
      const results = Object.fromEntries(Object.entries(checks).map(([name, check]) => [name, check()]));
      const ready = Object.values(results).every(Boolean);
      return Response.json({ ready, checks: results }, { status: ready ? 200 : 503 });
    }
    default:
      return new Response("not found; try /metrics, /healthz or /readyz\n", { status: 404 });
  }
}

export function serveHttp(
  port: number,
  registry: Registry,
  checks: ReadinessChecks,
  onListen: (port: number) => void,
): Deno.HttpServer {
  return Deno.serve(
    { port, hostname: "0.0.0.0", onListen: ({ port }) => onListen(port) },
    (request) => handleRequest(request, registry, checks),
  );
}
