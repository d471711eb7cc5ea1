/**
 * `deno task ecs-template`: writes `ecs-index-template.json` (the default template of
 * `ELASTIC_FIELD_NAMES=ecs`) from `new-index-template.json`, so that the two keep one set of
 * settings and one tuning: ECS fields take ECS's types (elastic/ecs) and the `index` and
 * `doc_values` choices of the pmacct field they come from; every pmacct field keeps its mapping
 * under `pmacct`. A unit test fails while the file and this disagree.
 */
import { ECS_FIELDS } from "../lib/pmacct/ecs.ts";

type Json = Record<string, unknown>;

/** ECS's types for the fields the bridge writes (ECS 8.11, `ecs_flat.yml`). */
const ECS_TYPES: Record<string, string> = {
  "ecs.version": "keyword",
  "event.kind": "keyword",
  "event.category": "keyword",
  "event.type": "keyword",
  "event.start": "date",
  "event.end": "date",
  "event.duration": "long",
  "source.ip": "ip",
  "source.port": "long",
  "source.mac": "keyword",
  "source.as.number": "long",
  "source.bytes": "long",
  "source.packets": "long",
  "destination.ip": "ip",
  "destination.port": "long",
  "destination.mac": "keyword",
  "destination.as.number": "long",
  "network.transport": "keyword",
  "network.iana_number": "keyword",
  "network.type": "keyword",
  "network.bytes": "long",
  "network.packets": "long",
  "network.community_id": "keyword",
  "observer.ip": "ip",
  "observer.ingress.interface.id": "keyword",
  "observer.egress.interface.id": "keyword",
};

/** ECS fields whose pmacct source decides their `index` and `doc_values`. */
function sourceOf(field: string): string | undefined {
  return Object.entries(ECS_FIELDS).find(([, fields]) => fields.includes(field))?.[0];
}

/** Sets `mapping` at the dotted `path` under `properties`, making the objects on the way. */
function place(properties: Json, path: string, mapping: Json): void {
  const parts = path.split(".");
  let at = properties;
  for (const part of parts.slice(0, -1)) {
    const object = (at[part] ??= { properties: {} }) as { properties: Json };
    at = object.properties;
  }
  at[parts.at(-1)!] = mapping;
}

/** The ECS template file for a pmacct-named template file. */
export function ecsTemplate(pmacct: { settings?: Json; mappings: Json }): Json {
  const source = pmacct.mappings.properties as Record<string, Json>;
  const properties: Json = { "@timestamp": source["@timestamp"] };
  for (const [field, type] of Object.entries(ECS_TYPES)) {
    const from = sourceOf(field);
    const tuning: Json = {};
    for (const key of ["index", "doc_values"]) {
      if (from !== undefined && source[from]?.[key] !== undefined) tuning[key] = source[from][key];
    }
    place(properties, field, type === "keyword" ? { type, ignore_above: 1024, ...tuning } : { type, ...tuning });
  }
  // Every pmacct field keeps its mapping under `pmacct`: those ECS defines land there too when
  // their value has no ECS meaning (an ICMP flow's ports, AS 0).
  const rest = Object.fromEntries(Object.entries(source).filter(([name]) => name !== "@timestamp"));
  properties.pmacct = { properties: rest };
  const { properties: _, ...mappings } = pmacct.mappings;
  return { ...(pmacct.settings ? { settings: pmacct.settings } : {}), mappings: { ...mappings, properties } };
}

if (import.meta.main) {
  const read = (name: string) => new URL(`../${name}`, import.meta.url);
  const template = ecsTemplate(JSON.parse(Deno.readTextFileSync(read("new-index-template.json"))));
  Deno.writeTextFileSync(read("ecs-index-template.json"), JSON.stringify(template, null, 2) + "\n");
}
