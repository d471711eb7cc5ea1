import assert from "node:assert/strict";
import { adaptTemplateFile, parseTemplateFile } from "../../lib/elastic/index_template.ts";
import { type ServerInfo, supportProblem, templateFeatures } from "../../lib/elastic/search_server.ts";
import { templateFor } from "../../lib/elastic/connect.ts";
import { parseConfig } from "../../lib/config/mod.ts";

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

/** The mappings part of {@linkcode adaptTemplateFile}, for a file without settings. */
function adaptMappings(mappings: Record<string, unknown>, server: ServerInfo) {
  const { file, changes } = adaptTemplateFile({ mappings, settings: {} }, templateFeatures(server));
  return { mappings: file.mappings, changes };
}

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
  const adapted = adaptMappings(MAPPINGS, es("8.14.1"));
  assert.deepEqual(adapted.mappings, MAPPINGS);
  assert.deepEqual(adapted.changes, []);
});

Deno.test("Elasticsearch 7.17: type lists split into one dynamic template per type, in order", () => {
  const adapted = adaptMappings(MAPPINGS, es("7.17.25"));
  assert.deepEqual(adapted.mappings.dynamic_templates, [
    { numbers: { match_mapping_type: "long", mapping: { type: "long" } } },
    { text_and_flags_string: { match_mapping_type: "string", mapping: { type: "keyword" } } },
    { text_and_flags_boolean: { match_mapping_type: "boolean", mapping: { type: "keyword" } } },
  ]);
  assert.deepEqual(adapted.mappings.properties, MAPPINGS.properties, "flattened stays on Elasticsearch");
  assert.equal(adapted.changes.length, 1);
});

Deno.test("OpenSearch: flattened becomes flat_object at any depth, type lists split", () => {
  const adapted = adaptMappings(MAPPINGS, os("2.19.3"));
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
    const { mappings: adapted } = adaptMappings(mappings, server);
    for (const [field, mapping] of Object.entries(mappings.properties as Record<string, { type: string }>)) {
      const type = (adapted.properties as Record<string, { type: string }>)[field].type;
      const expected = mapping.type === "flattened" && server.distribution === "opensearch"
        ? "flat_object"
        : mapping.type;
      assert.equal(type, expected, `${server.distribution} ${server.version} ${field}`);
    }
  }
});

Deno.test("template settings: nested, dotted or without index., they are one setting; the environment's shards win", () => {
  const file = parseTemplateFile(
    JSON.stringify({
      settings: {
        index: { codec: "best_compression", sort: { field: ["@timestamp"], order: ["desc"] } },
        "index.refresh_interval": "30s",
        number_of_shards: 3,
        "index.number_of_replicas": 0,
      },
      mappings: { properties: {} },
    }),
    "t.json",
  );
  assert.deepEqual(file.settings, {
    "index.codec": "best_compression",
    "index.sort.field": ["@timestamp"],
    "index.sort.order": ["desc"],
    "index.refresh_interval": "30s",
    "index.number_of_shards": 3,
    "index.number_of_replicas": 0,
  });
  const config = parseConfig({
    KAFKA_BOOTSTRAP_SERVERS: "k:9092",
    KAFKA_TOPIC: "pmacct",
    ELASTIC_INDEX_SHARDS: "2",
    ELASTIC_INDEX_PREFIX: "sflow",
  }).elastic;
  const { template, changes } = templateFor(config, file, es("8.14.1"));
  assert.equal(template.template.settings["index.number_of_shards"], 2);
  assert.equal(template.template.settings["index.number_of_replicas"], 0);
  assert.equal(template.template.settings["index.codec"], "best_compression");
  assert.deepEqual(changes, ["index.number_of_shards is 2 from ELASTIC_INDEX_SHARDS, not the file's 3"]);
  const unset = templateFor({ ...config, shards: undefined }, file, es("8.14.1"));
  assert.equal(unset.template.template.settings["index.number_of_shards"], 3, "unset, the file's");
  assert.deepEqual(unset.changes, []);
  const neither = templateFor({ ...config, shards: undefined }, { ...file, settings: {} }, es("8.14.1"));
  assert.equal(neither.template.template.settings["index.number_of_shards"], 1, "neither: 1");
  assert.throws(() => parseTemplateFile('{"mappings": {}, "settings": []}', "t.json"), /ELASTIC_INDEX_TEMPLATE/);
});

Deno.test("one file for both: ILM is left out on OpenSearch, ISM on Elasticsearch, each said", () => {
  const file = {
    mappings: {},
    settings: {
      "index.lifecycle.name": "flows",
      "index.plugins.index_state_management.policy_id": "flows",
      "index.codec": "best_compression",
    },
  };
  const onElastic = adaptTemplateFile(file, templateFeatures(es("9.1.5")));
  assert.deepEqual(onElastic.file.settings, { "index.lifecycle.name": "flows", "index.codec": "best_compression" });
  assert.deepEqual(onElastic.changes, [
    "index.plugins.index_state_management.policy_id left out: this server has no such setting",
  ]);
  const onOpenSearch = adaptTemplateFile(file, templateFeatures(os("2.19.3")));
  assert.deepEqual(onOpenSearch.file.settings, {
    "index.plugins.index_state_management.policy_id": "flows",
    "index.codec": "best_compression",
  });
  assert.deepEqual(onOpenSearch.changes, ["index.lifecycle.name left out: this server has no such setting"]);
});

Deno.test("a field kept in doc values only is indexed where the server cannot search it so", () => {
  const mappings = {
    properties: {
      port_src: { type: "integer", index: false },
      tcp_flags: { type: "keyword", index: false },
      never_searched: { type: "keyword", index: false, doc_values: false },
    },
  };
  assert.deepEqual(adaptMappings(mappings, es("8.14.1")), { mappings, changes: [] });
  const on717 = adaptMappings(mappings, es("7.17.25"));
  assert.deepEqual(on717.mappings.properties, {
    port_src: { type: "integer" },
    tcp_flags: { type: "keyword" },
    never_searched: { type: "keyword", index: false, doc_values: false },
  });
  assert.deepEqual(on717.changes, [
    "fields kept in doc values only indexed, as this server cannot search integer, keyword fields by doc values",
  ]);
  assert.deepEqual(adaptMappings(mappings, os("2.19.3")), { mappings, changes: [] });
  const onOpenSearch214 = adaptMappings(mappings, os("2.14.0")).mappings.properties as Record<string, unknown>;
  assert.deepEqual(onOpenSearch214.port_src, mappings.properties.port_src);
  assert.deepEqual(onOpenSearch214.tcp_flags, { type: "keyword" });
});
