/**
 * Elasticsearch's side of readiness and of the `elasticsearch_up`/`auth_failed` gauges: every
 * request outcome, from start-up, the probe or `_bulk`, lands here and is turned into the named
 * check an operator must fix, with a message that says what to set.
 */
import type { Health } from "../runtime/health.ts";
import type { SearchService } from "./service.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { tlsProblem } from "../runtime/tls_problem.ts";
import { explainBlocks, isClusterBlock, parseBlocks, UNTIL_LIFTED } from "./block.ts";

/** The readiness checks this file owns, and whether each passes before anything was tried. */
export const ELASTIC_CHECKS = {
  elasticsearch: false,
  elasticsearch_tls: true,
  elasticsearch_credentials: true,
  elasticsearch_server: true,
  elasticsearch_block: true,
} as const;

const FAILURE_CHECKS = ["elasticsearch_tls", "elasticsearch_credentials"] as const;
const BLOCK_CHECK = "elasticsearch_block";

/** A failed request as this file reads it: `type` is the server's `error.type`, when it answered. */
export interface ElasticFailure {
  status?: number;
  message: string;
  type?: string;
}

/** Which check a failure belongs to, and what the operator reads. */
export function classifyElasticFailure(
  failure: ElasticFailure,
  nodes: string[],
): { check: keyof typeof ELASTIC_CHECKS; problem: string } {
  if (isClusterBlock(failure.type)) {
    const blocks = parseBlocks(failure.message);
    const what = blocks.length > 0
      ? explainBlocks(blocks)
      : `a block refuses writes (${failure.message}); ${UNTIL_LIFTED}`;
    return { check: BLOCK_CHECK, problem: `${what}; retrying` };
  }
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

  /** A write (the template, a `_bulk`) was answered and nothing blocked it. */
  succeeded(): void {
    this.#answered();
    this.health.pass(BLOCK_CHECK);
    this.metrics.elasticBlocked.set(0);
  }

  /** A request failed; `fields` go into the log line. */
  failed(failure: ElasticFailure, fields: Record<string, unknown> = {}): void {
    const { check, problem } = classifyElasticFailure(failure, this.nodes);
    this.health.fail(check, problem, { status: failure.status, error: failure.message, ...fields });
    if (check === BLOCK_CHECK) {
      // A block is the cluster's answer: it is up, and it took the credentials.
      this.#answered();
      this.metrics.elasticBlocked.set(Math.max(1, parseBlocks(failure.message).length));
      return;
    }
    this.health.set("elasticsearch", false);
    this.metrics.elasticUp.set(0);
    this.metrics.elasticAuthFailed.set(check === "elasticsearch_credentials" ? 1 : 0);
  }

  /** Handler for the bulk writer's per-request reports. */
  readonly bulkHealth = (failure: ElasticFailure | undefined): void => {
    if (failure === undefined) this.succeeded();
    else this.failed(failure);
  };

  /**
   * The cluster answered. Says nothing of blocks: a probe's `_cluster/health` is served while
   * every index is blocked, so only a write clears the block check.
   */
  #answered(): void {
    this.health.pass("elasticsearch");
    for (const check of FAILURE_CHECKS) this.health.pass(check);
    this.metrics.elasticUp.set(1);
    this.metrics.elasticAuthFailed.set(0);
  }

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
        this.#answered();
      } catch (error) {
        this.failed(error as Error & { status?: number });
      }
      Deno.unrefTimer(setTimeout(probe, this.reachable ? 10_000 : 2_000));
    };
    Deno.unrefTimer(setTimeout(probe, 10_000));
  }
}
