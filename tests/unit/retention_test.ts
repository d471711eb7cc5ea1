import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../lib/config/mod.ts";
import { dayOfIndex } from "../../lib/elastic/index_name.ts";
import { expiredIndices } from "../../lib/elastic/expired_indices.ts";

const NOW = Date.UTC(2026, 10, 26, 13, 45);

Deno.test("retention deletes the prefix's days older than the kept ones, and only those", () => {
  const names = [
    "sflow-2026-11-26", // today
    "sflow-2026-10-27", // 30 days before today: kept
    "sflow-2026-10-26", // 31 days before: expired
    "sflow-2020-01-01",
    "sflow-2027-01-01", // a flow clock in the future: kept
    "sflow-eu-2020-01-01", // another prefix, `sflow-eu`
    "sflowx-2020-01-01",
    "other-2020-01-01",
    "sflow-2020-02-30", // not a date
    "sflow-2020-1-01",
    "sflow-2020-01-01-reindexed",
    "sflow-notadate",
    ".sflow-2020-01-01",
  ];
  assert.deepEqual(expiredIndices(names, "sflow", 30, NOW), ["sflow-2020-01-01", "sflow-2026-10-26"]);
  assert.deepEqual(expiredIndices(names, "sflow", 1, NOW).slice(-1), ["sflow-2026-10-27"]);
  assert.deepEqual(expiredIndices(names, "sflow-eu", 30, NOW), ["sflow-eu-2020-01-01"]);
  assert.deepEqual(expiredIndices(["sflow-2026-11-25"], "sflow", 1, NOW), [], "yesterday is kept with 1d");
  assert.deepEqual(expiredIndices(["sflow-2026-11-24"], "sflow", 1, NOW), ["sflow-2026-11-24"]);
});

Deno.test("a daily index's day is read back from the name the bridge gives it, strictly", () => {
  assert.equal(dayOfIndex("sflow", "sflow-1970-01-02"), 1);
  assert.equal(dayOfIndex("sflow", "sflow-2026-11-26"), Math.floor(NOW / 86_400_000));
  assert.equal(dayOfIndex("a.b", "a.b-2026-11-26"), Math.floor(NOW / 86_400_000));
  for (
    const name of ["sflow-2026-13-01", "sflow-2026-02-29", "sflow-2026-11-26x", "xsflow-2026-11-26", "sflow2026-11-26"]
  ) {
    assert.equal(dayOfIndex("sflow", name), undefined, name);
  }
  assert.equal(dayOfIndex("sflow", "sflow-2024-02-29"), Date.UTC(2024, 1, 29) / 86_400_000, "a leap day is a date");
});

Deno.test("ELASTIC_RETENTION is off by default, takes days, and names itself when it is wrong", () => {
  const base = { KAFKA_BOOTSTRAP_SERVERS: "k:9092", KAFKA_TOPIC: "t" };
  assert.equal(parseConfig(base, "UTC").elastic.retentionDays, undefined);
  assert.equal(parseConfig({ ...base, ELASTIC_RETENTION: "off" }, "UTC").elastic.retentionDays, undefined);
  assert.equal(parseConfig({ ...base, ELASTIC_RETENTION: "30d" }, "UTC").elastic.retentionDays, 30);
  for (const value of ["30", "0d", "1w", "-3d", "thirty days"]) {
    assert.throws(
      () => parseConfig({ ...base, ELASTIC_RETENTION: value }, "UTC"),
      (error) => error instanceof ConfigError && error.variable === "ELASTIC_RETENTION",
      value,
    );
  }
});
