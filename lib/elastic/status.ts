/**
 * Elasticsearch's side of readiness and of the `elasticsearch_up`/`auth_failed` gauges: every
 * request outcome, from start-up, the probe or `_bulk`, lands here and is turned into the named
 * check an operator must fix, with a message that says what to set.
 */
import type { Health } from "../health.ts";
import type { SearchService } from "./service.ts";
import type { Metrics } from "../metrics.ts";
import { tlsProblem } from "../tls_problem.ts";

/** The readiness checks this file owns, and whether each passes before anything was tried. */
export const ELASTIC_CHECKS = {
  elasticsearch: false,
  elasticsearch_tls: true,
  elasticsearch_credentials: true,
  elasticsearch_server: true,
} as const;

const FAILURE_CHECKS = ["elasticsearch_tls", "elasticsearch_credentials"] as const;

/** Which check a failure belongs to, and what the operator reads. */
export function classifyElasticFailure(
  failure: { status?: number; message: string },
  nodes: string[],
): { check: keyof typeof ELASTIC_CHECKS; problem: string } {
  const tls = tlsProblem(failure.message);
  if (tls === "certificate is not trusted") {
    return {
      check: "elasticsearch_tls",
      problem: "Elasticsearch's certificate is not trusted: set ELASTIC_CA_FILE or ELASTIC_CA_FINGERPRINT",
    };
  }
  if (tls !== undefined) return { check: "elasticsearch_tls", problem: `Elasticsearch's TLS: ${tls}` };
  if (failure.status === 401) {
    return {
      check: "elasticsearch_credentials",
      problem:
        "Elasticsearch refused the credentials: check ELASTIC_USERNAME/ELASTIC_PASSWORD or ELASTIC_API_KEY; retrying",
    };
  }
  if (failure.status === 403) {
    return {
      check: "elasticsearch_credentials",
      problem: `Elasticsearch refused the bridge's user: it lacks a privilege (${failure.message}); retrying`,
    };
  }
  return {
    check: "elasticsearch",
    problem: failure.status === undefined
      ? `cannot reach Elasticsearch at ${nodes.join(",")}; retrying`
      : `Elasticsearch answered ${failure.status}; retrying`,
  };
}

export class ElasticStatus {
  constructor(
    private readonly health: Health,
    private readonly metrics: Metrics,
    private readonly nodes: string[],
  ) {}

  /** A request reached the cluster and was answered. */
  succeeded(): void {
    this.health.pass("elasticsearch");
    for (const check of FAILURE_CHECKS) this.health.pass(check);
    this.metrics.elasticUp.set(1);
    this.metrics.elasticAuthFailed.set(0);
  }

  /** A request failed; `fields` go into the log line. */
  failed(failure: { status?: number; message: string }, fields: Record<string, unknown> = {}): void {
    const { check, problem } = classifyElasticFailure(failure, this.nodes);
    this.health.fail(check, problem, { status: failure.status, error: failure.message, ...fields });
    this.health.set("elasticsearch", false);
    this.metrics.elasticUp.set(0);
    this.metrics.elasticAuthFailed.set(check === "elasticsearch_credentials" ? 1 : 0);
  }

  /** Handler for the bulk writer's per-request reports. */
  readonly bulkHealth = (failure: { status?: number; message: string } | undefined): void => {
    if (failure === undefined) this.succeeded();
    else this.failed(failure);
  };

  get reachable(): boolean {
    return this.health.ok("elasticsearch");
  }

  /**
   * Keeps readiness current while nothing is being sent, probing every 10 s, every 2 s while
   * the cluster is down; `onBack` runs the moment it answers again (to cut retry waits short).
   */
  watch(service: SearchService, onBack: () => void): void {
    const probe = async () => {
      try {
        await service.health();
        if (!this.reachable) onBack();
        this.succeeded();
      } catch (error) {
        this.failed(error as Error & { status?: number });
      }
      Deno.unrefTimer(setTimeout(probe, this.reachable ? 10_000 : 2_000));
    };
    Deno.unrefTimer(setTimeout(probe, 10_000));
  }
}
