import assert from "node:assert/strict";
import { ADDRESS_FIELDS, LABEL_MAP_FIELD } from "../../lib/pmacct/document.ts";
import { FLOW_TIME_FIELDS } from "../../lib/pmacct/flow_time.ts";
import { buildIndexTemplate, fieldNamesMismatch, parseTemplateFile } from "../../lib/elastic/index_template.ts";
import { ConfigError } from "../../lib/config/mod.ts";
import { SHARED } from "../support/fixtures.ts";
import { ecsTemplate } from "../../scripts/ecs_template.ts";

type Property = { type?: string; format?: string };
const templateUrl = new URL("../../new-index-template.json", import.meta.url);
const { mappings } = parseTemplateFile(Deno.readTextFileSync(templateUrl), templateUrl.pathname);
const properties = mappings.properties as Record<string, Property>;

Deno.test("the default template maps every time the bridge writes as a date that accepts every pmacct encoding", () => {
  for (const field of FLOW_TIME_FIELDS) {
    assert.equal(properties[field]?.type, "date", field);
    const formats = properties[field].format!.split("||");
    for (
      const format of ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.SSSSSS", "strict_date_optional_time", "epoch_second"]
    ) {
      assert.ok(formats.includes(format), `${field} lacks ${format}`);
    }
  }
  assert.equal(properties["@timestamp"].type, "date");
});

Deno.test("every ip field of the template is one whose empty string the bridge turns into null", () => {
  const ipFields = Object.entries(properties).filter(([, property]) => property.type === "ip").map(([name]) => name);
  assert.ok(ipFields.length >= 10);
  for (const field of ipFields) assert.ok(ADDRESS_FIELDS.includes(field), field);
});

Deno.test("counters are long, label_map is flattened, unknown primitives never conflict", () => {
  for (const field of ["bytes", "packets", "flows"]) assert.equal(properties[field].type, "long");
  assert.equal(properties[LABEL_MAP_FIELD].type, "flattened");
  assert.equal(properties.etype.type, "keyword", "pmacct prints etype in hex");
  assert.equal(mappings.date_detection, false);
  assert.equal(mappings.numeric_detection, false);
  const dynamic = mappings.dynamic_templates as Array<Record<string, { mapping: Record<string, unknown> }>>;
  for (const template of dynamic) {
    const [[, { mapping }]] = Object.entries(template);
    assert.ok(mapping.type === "keyword" || mapping.ignore_malformed === true, JSON.stringify(template));
  }
});

Deno.test("the original tool's template file is accepted as it is", () => {
  const path = `${SHARED}/seed/new-index-template.json`;
  const original = parseTemplateFile(Deno.readTextFileSync(path), path);
  const template = buildIndexTemplate("sflow", original);
  assert.deepEqual(template.index_patterns, [
    "sflow-0*",
    "sflow-1*",
    "sflow-2*",
    "sflow-3*",
    "sflow-4*",
    "sflow-5*",
    "sflow-6*",
    "sflow-7*",
    "sflow-8*",
    "sflow-9*",
  ]);
  assert.equal((template.template.mappings.properties as Record<string, Property>).stamp_inserted.type, "date");
});

Deno.test("a template without a mappings object is a configuration error naming the variable", () => {
  assert.throws(() => parseTemplateFile('{"properties": {}}', "t.json"), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /ELASTIC_INDEX_TEMPLATE/);
    return true;
  });
});

const EMPTY = { mappings: {}, settings: {} };

/** What Elasticsearch's template patterns match: `*` is any run of characters. */
function matches(pattern: string, name: string): boolean {
  return new RegExp(`^${pattern.split("*").map((part) => part.replace(/[.+-]/g, "\\$&")).join(".*")}$`).test(name);
}

Deno.test("overlapping prefixes: neither template matches the other's daily indices, and the longer wins any tie", () => {
  const short = buildIndexTemplate("sflow", EMPTY, 1, 0);
  const long = buildIndexTemplate("sflow-eu", EMPTY, 1, 0);
  const matchedBy = (name: string) =>
    [short, long].filter((template) => template.index_patterns.some((pattern) => matches(pattern, name)));
  assert.deepEqual(matchedBy("sflow-2026-12-01"), [short]);
  assert.deepEqual(matchedBy("sflow-eu-2026-12-01"), [long]);
  assert.deepEqual(matchedBy("sflow-0001-01-01"), [short]);
  // A prefix that begins with a digit after the dash can match the shorter prefix's patterns; its
  // template then has the higher priority, as Elasticsearch requires of overlapping templates.
  const digits = buildIndexTemplate("sflow-2eu", EMPTY, 1, 0);
  assert.ok(short.index_patterns.some((pattern) => matches(pattern, "sflow-2eu-2026-12-01")));
  assert.ok(digits.priority > short.priority && short.priority > 100);
  assert.equal(long.template.settings["index.number_of_shards"], 1);
});

Deno.test("the ECS template is the default one with ECS's fields and types (run deno task ecs-template)", () => {
  const read = (name: string) => JSON.parse(Deno.readTextFileSync(new URL(`../../${name}`, import.meta.url)));
  const file = read("ecs-index-template.json");
  const { properties } = file.mappings;
  assert.deepEqual(file, ecsTemplate(read("new-index-template.json")));
  assert.equal(properties.source.properties.ip.type, "ip");
  assert.equal(properties.network.properties.community_id.type, "keyword");
  assert.equal(properties.pmacct.properties.tos.type, "integer");
  assert.equal(properties.pmacct.properties.port_src.type, "integer", "an ICMP flow's ports stay pmacct's");
});

Deno.test("a template that does not map the documents' field names is named at start", () => {
  const read = (name: string) =>
    parseTemplateFile(Deno.readTextFileSync(new URL(`../../${name}`, import.meta.url)), name);
  assert.equal(fieldNamesMismatch(read("new-index-template.json"), "pmacct"), undefined);
  assert.equal(fieldNamesMismatch(read("ecs-index-template.json"), "ecs"), undefined);
  assert.match(fieldNamesMismatch(read("new-index-template.json"), "ecs")!, /use ecs-index-template.json/);
  assert.match(fieldNamesMismatch(read("ecs-index-template.json"), "pmacct")!, /use new-index-template.json/);
});
