/**
 * Readiness as named checks (`kafka_credentials`, `elasticsearch_tls`, ...), each with the
 * problem it reports. A failure is logged once, when it starts or its message changes, and its
 * end once: a bridge retrying a wrong password every few seconds says so in one line, and
 * `/readyz` names the check until it passes.
 *
 * @example
 * ```ts
 * const health = new Health(log, { kafka: false, kafka_credentials: true });
 * health.fail("kafka_credentials", "Kafka refused the SASL credentials");
 * health.report().ready; // false
 * ```
 */
import type { Fields, Logger } from "./log.ts";

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
  /** What is wrong, for each failing check that said why. */
  problems: Record<string, string>;
}

export class Health {
  readonly #checks = new Map<string, { ok: boolean; problem?: string }>();

  /** `initial`: every check's name and whether it passes before anything was tried. */
  constructor(private readonly log: Logger, initial: Record<string, boolean>) {
    for (const [name, ok] of Object.entries(initial)) this.#checks.set(name, { ok });
  }

  /** The check passes; a failure it had is logged as over. */
  pass(name: string): void {
    const before = this.#get(name);
    if (!before.ok && before.problem !== undefined) this.log.info("resolved", { check: name, was: before.problem });
    this.#checks.set(name, { ok: true });
  }

  /** The check fails with `problem`; logged as an error the first time, at debug level after. */
  fail(name: string, problem: string, fields: Fields = {}): void {
    const before = this.#get(name);
    if (before.ok || before.problem !== problem) this.log.error(problem, { check: name, ...fields });
    else this.log.debug(problem, { check: name, ...fields });
    this.#checks.set(name, { ok: false, problem });
  }

  /** Sets a check without a problem to report (a state, such as "not joined yet"). */
  set(name: string, ok: boolean): void {
    if (ok) this.pass(name);
    else this.#checks.set(name, { ok: false, problem: this.#get(name).problem });
  }

  ok(name: string): boolean {
    return this.#get(name).ok;
  }

  report(): Readiness {
    const checks: Record<string, boolean> = {};
    const problems: Record<string, string> = {};
    for (const [name, { ok, problem }] of this.#checks) {
      checks[name] = ok;
      if (!ok && problem !== undefined) problems[name] = problem;
    }
    return { ready: Object.values(checks).every(Boolean), checks, problems };
  }

  #get(name: string): { ok: boolean; problem?: string } {
    const check = this.#checks.get(name);
    if (!check) throw new Error(`unknown readiness check ${name}`);
    return check;
  }
}
