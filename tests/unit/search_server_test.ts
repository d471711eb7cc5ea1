import assert from "node:assert/strict";
import { adaptMappings } from "../../lib/elastic/index_template.ts";
import { mappingFeatures, type ServerInfo, supportProblem } from "../../lib/elastic/search_server.ts";

const es = (version: string): ServerInfo => ({ distribution: "elasticsearch", version });
const os = (version: string): ServerInfo => ({ distribution: "opensearch", version });

Deno.test("supported servers: Elasticsearch 7.17 to 9.x, OpenSearch 2.7 to 3.x; others are named", () => {
  for (const server of [es("7.17.25"), es("8.14.1"), es("9.1.5"), os("2.7.0"), os("2.19.3"), os("3.1.0")]) {
    assert.equal(supportProblem(server), undefined, server.version);
  }
  assert.equal(
    supportProblem(es("6.8.23")),
    "Elasticsearch 6.8.23 is not supported: the bridge needs Elasticsearch 7.17, 8.x or 9.x, or OpenSearch 2.7 to 3.x",
  );
  for (const server of [es("7.10.2"), es("10.0.0"), os("1.3.20"), os("2.6.0"), os("4.0.0")]) {
    assert.match(supportProblem(server)!, /is not supported/, server.version);
  }
});

const MAPPINGS = {
  dynamic_templates: [
    { numbers: { match_mapping_type: "long", mapping: { type: "long" } } },
    { text_and_flags: { match_mapping_type: ["string", "boolean"], mapping: { type: "keyword" } } },
  ],
  properties: {
    label_map: { type: "flattened", depth_limit: 5 },
    nested: { properties: { inner: { type: "flattened" } } },
    ip_src: { type: "ip" },
  },
};

Deno.test("the template is kept as it is where the server takes it (Elasticsearch 8.13+)", () => {
  const adapted = adaptMappings(MAPPINGS, mappingFeatures(es("8.14.1")));
  assert.deepEqual(adapted.mappings, MAPPINGS);
  assert.deepEqual(adapted.changes, []);
});

Deno.test("Elasticsearch 7.17: type lists split into one dynamic template per type, in order", () => {
  const adapted = adaptMappings(MAPPINGS, mappingFeatures(es("7.17.25")));
  assert.deepEqual(adapted.mappings.dynamic_templates, [
    { numbers: { match_mapping_type: "long", mapping: { type: "long" } } },
    { text_and_flags_string: { match_mapping_type: "string", mapping: { type: "keyword" } } },
    { text_and_flags_boolean: { match_mapping_type: "boolean", mapping: { type: "keyword" } } },
  ]);
  assert.deepEqual(adapted.mappings.properties, MAPPINGS.properties, "flattened stays on Elasticsearch");
  assert.equal(adapted.changes.length, 1);
});

Deno.test("OpenSearch: flattened becomes flat_object at any depth, type lists split", () => {
  const adapted = adaptMappings(MAPPINGS, mappingFeatures(os("2.19.3")));
  const properties = adapted.mappings.properties as typeof MAPPINGS.properties;
  assert.deepEqual(properties.label_map, { type: "flat_object" });
  assert.deepEqual(properties.nested.properties.inner, { type: "flat_object" });
  assert.deepEqual(properties.ip_src, { type: "ip" });
  assert.equal((adapted.mappings.dynamic_templates as unknown[]).length, 3);
  assert.ok(adapted.changes.some((change) => change.includes("without depth_limit")), adapted.changes.join("; "));
  assert.deepEqual(MAPPINGS.properties.label_map, { type: "flattened", depth_limit: 5 }, "the input is not changed");
});

Deno.test("the default template file lands with the same field types on every server", () => {
  const mappings =
    JSON.parse(Deno.readTextFileSync(new URL("../../new-index-template.json", import.meta.url))).mappings;
  for (const server of [es("7.17.25"), es("8.14.1"), es("9.1.5"), os("2.19.3")]) {
    const { mappings: adapted } = adaptMappings(mappings, mappingFeatures(server));
    for (const [field, mapping] of Object.entries(mappings.properties as Record<string, { type: string }>)) {
      const type = (adapted.properties as Record<string, { type: string }>)[field].type;
      const expected = mapping.type === "flattened" && server.distribution === "opensearch"
        ? "flat_object"
        : mapping.type;
      assert.equal(type, expected, `${server.distribution} ${server.version} ${field}`);
    }
  }
});
