/**
 * `monitoring/`: the alerting rules are valid (`promtool check rules`) and right on recorded
 * series (`promtool test rules`); every metric they and the Grafana dashboard query is one a real
 * bridge exports; and live, Debian's `prometheus` scrapes a real bridge and evaluates the rules
 * while the real Elasticsearch is stopped and started again: the outage alert goes pending,
 * firing, and away.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../support/fixtures.ts";
import {
  ensureTopic,
  integrationTest,
  run,
  stack,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

const RULES = `${REPO_ROOT}monitoring/alerts.yml`;

Deno.test("promtool accepts the alerting rules and their unit tests pass", async () => {
  assert.match(await run("promtool", ["check", "rules", RULES]), /SUCCESS: \d+ rules found/);
  assert.match(
    await run("promtool", ["test", "rules", "alerts_test.yml"], { cwd: `${REPO_ROOT}monitoring` }),
    /SUCCESS/,
  );
});

/** The bridge's metric names in a file's queries. */
function queriedMetrics(path: string): Set<string> {
  return new Set(Deno.readTextFileSync(path).match(/\b(samples_count_total|pmacct_bridge_[a-z_]+)\b/g) ?? []);
}

integrationTest("every metric the alerts and the dashboard query is one a running bridge exports", async () => {
  const topic = uniqueName("metric-names");
  await ensureTopic(topic);
  const bridge = await startBridge({ KAFKA_TOPIC: topic, KAFKA_CONSUMER_GROUP_ID: topic, ELASTIC_INDEX_PREFIX: topic });
  try {
    await waitReady(bridge);
    const scrape = await (await fetch(`http://127.0.0.1:${bridge.port}/metrics`)).text();
    const exported = new Set<string>();
    for (const [, name, type] of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exported.add(name);
      if (type === "histogram") { for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(name + suffix); }
    }
    const dashboard = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}monitoring/dashboard.json`));
    assert.ok(
      dashboard.panels.length > 0 &&
        dashboard.panels.every((panel: { targets: unknown[] }) => panel.targets.length > 0),
    );
    for (const file of ["dashboard.json", "alerts.yml"]) {
      const names = queriedMetrics(`${REPO_ROOT}monitoring/${file}`);
      assert.ok(names.size >= 8, `${file} queries ${names.size} metrics`);
      for (const name of names) {
        assert.ok(exported.has(name), `${file} queries ${name}, which the bridge does not export`);
      }
    }
  } finally {
    await bridge.stop("SIGTERM");
  }
});

interface PrometheusAlert {
  labels: Record<string, string>;
  state: "pending" | "firing";
}

integrationTest("live: the Elasticsearch outage alert fires while Elasticsearch is stopped, and clears", async () => {
  const topic = uniqueName("alerts");
  await ensureTopic(topic);
  const bridge = await startBridge({ KAFKA_TOPIC: topic, KAFKA_CONSUMER_GROUP_ID: topic, ELASTIC_INDEX_PREFIX: topic });
  const dir = await Deno.makeTempDir({ prefix: "prometheus-" });
  const port = 19_700 + Math.floor(Math.random() * 200);
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      `rule_files: ["${RULES}"]`,
      "scrape_configs:",
      "  - job_name: pmacct-kafka-elastic",
      `    static_configs: [{ targets: ["127.0.0.1:${bridge.port}"] }]`,
    ].join("\n"),
  );
  const prometheus = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const api = async (path: string) => (await (await fetch(`http://127.0.0.1:${port}/api/v1/${path}`)).json()).data;
  /** The outage alert's state as Prometheus reports it; each change is noted in `seen`. */
  const seen: string[] = [];
  const outageState = async () => {
    const alerts: PrometheusAlert[] = (await api("alerts")).alerts;
    const state = alerts.find((alert) => alert.labels.alertname === "PmacctBridgeElasticsearchDown")?.state ??
      "inactive";
    if (seen.at(-1) !== state) seen.push(state);
    return state;
  };
  const waitForOutage = (state: string, timeoutMs: number) =>
    waitFor(`the outage alert to be ${state}`, async () => (await outageState()) === state, timeoutMs, 500);
  try {
    await waitReady(bridge);
    await waitFor(
      "Prometheus to scrape the bridge",
      async () => {
        try {
          const { activeTargets } = await api("targets");
          return activeTargets.length === 1 && activeTargets[0].health === "up";
        } catch {
          return false;
        }
      },
      60_000,
      500,
    );
    await outageState();

    await stack("down", "elasticsearch");
    try {
      await waitForOutage("firing", 180_000);
    } finally {
      await stack("up", "elasticsearch");
    }
    await waitForOutage("inactive", 120_000);
    assert.deepEqual(seen, ["inactive", "pending", "firing", "inactive"]);
  } finally {
    prometheus.kill("SIGTERM");
    await prometheus.status;
    await bridge.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});
