import assert from "node:assert/strict";
import { Logger } from "../../lib/runtime/log.ts";

function capture(format: "text" | "json") {
  const lines: string[] = [];
  return { lines, log: new Logger("info", (line) => lines.push(line), format) };
}

Deno.test("LOG_FORMAT=json: one object per line with @timestamp, log.level, message and the fields", () => {
  const { lines, log } = capture("json");
  log.info("bulk sent", { index: "sflow-2026-11-24", documents: 1000, skipped: undefined });
  log.error("cannot reach Elasticsearch", {
    error: new Error("connect ECONNREFUSED"),
    message: "a field named message",
  });
  log.debug("not at this level");
  assert.equal(lines.length, 2);
  const [sent, failed] = lines.map((line) => JSON.parse(line));
  assert.match(sent["@timestamp"], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual({ ...sent, "@timestamp": undefined }, {
    "@timestamp": undefined,
    "log.level": "info",
    message: "bulk sent",
    index: "sflow-2026-11-24",
    documents: 1000,
  });
  assert.equal(failed["log.level"], "error");
  assert.equal(failed.message, "cannot reach Elasticsearch");
  assert.equal(failed.error, "connect ECONNREFUSED");
  assert.equal(failed["field.message"], "a field named message");
});

Deno.test("secrets are masked in JSON lines too, also where JSON escapes them", () => {
  const { lines, log } = capture("json");
  log.mask(['se"cr\\et']);
  log.warn("login failed", { detail: 'password se"cr\\et refused' });
  assert.doesNotMatch(lines[0], /cr/);
  assert.equal(JSON.parse(lines[0]).detail, "password **** refused");
});

Deno.test("LOG_FORMAT=text stays the default: time, level, message, key=value", () => {
  const lines: string[] = [];
  new Logger("info", (line) => lines.push(line)).info("bulk sent", { index: "sflow-2026-11-24", note: "two words" });
  assert.match(lines[0], /^\S+Z INFO {2}bulk sent index=sflow-2026-11-24 note="two words"$/);
});
