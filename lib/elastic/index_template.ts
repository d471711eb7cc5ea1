/**
 * The mappings every daily index gets. The file keeps the original tool's format,
 * `{"mappings": {...}}`; the bridge installs it as a composable index template for
 * `<prefix>-0*` to `<prefix>-9*` (its daily indices, never another prefix's), so an index gets the mappings whoever creates it (the bridge, a replay, a
 * person), with the configured shards and replicas. The bridge also creates each daily index
 * with the same settings and mappings itself, for clusters that create nothing on their own.
 * Pure: the adapter sends what this builds.
 */
import { ConfigError } from "../config/parse.ts";
import { dailyIndexPatterns } from "./index_name.ts";
import type { MappingFeatures } from "./search_server.ts";

export interface IndexTemplate {
  index_patterns: string[];
  priority: number;
  template: {
    settings: { number_of_shards: number; number_of_replicas: number };
    mappings: Record<string, unknown>;
  };
  /** `index_prefix` names the prefix the template is for. */
  _meta: { managed_by: string; index_prefix: string };
}

/** Parses the template file's text; a bad file is a configuration error. */
export function parseTemplateFile(text: string, path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("ELASTIC_INDEX_TEMPLATE", `a JSON file (${path}: ${(error as Error).message})`, path);
  }
  const mappings = (parsed as { mappings?: unknown } | null)?.mappings;
  if (mappings === null || typeof mappings !== "object" || Array.isArray(mappings)) {
    throw new ConfigError(
      "ELASTIC_INDEX_TEMPLATE",
      `a file of the form {"mappings": {...}} (${path} has no "mappings" object)`,
      path,
    );
  }
  return mappings as Record<string, unknown>;
}

export function buildIndexTemplate(
  prefix: string,
  mappings: Record<string, unknown>,
  shards: number,
  replicas: number,
): IndexTemplate {
  return {
    index_patterns: dailyIndexPatterns(prefix),
    priority: templatePriority(prefix),
    template: { settings: { number_of_shards: shards, number_of_replicas: replicas }, mappings },
    _meta: { managed_by: "pmacct-kafka-elastic", index_prefix: prefix },
  };
}

/**
 * Above the built-in templates (priority 100 at most), so it wins for our indices; and higher for
 * a longer prefix. Patterns that can match one name (`sflow-2*` and `sflow-2x-2*`) must differ in
 * priority or Elasticsearch refuses the second template, and the longer prefix is the more
 * specific one, so it wins for its own indices.
 */
export function templatePriority(prefix: string): number {
  return 200 + prefix.length;
}

/** The template's name: one per index prefix, so several bridges with different prefixes coexist. */
export function templateName(prefix: string): string {
  return `${prefix}-pmacct`;
}

/** Mappings rewritten for a server, and what was changed, for the start-up log. */
export interface AdaptedMappings {
  mappings: Record<string, unknown>;
  changes: string[];
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Rewrites mappings for what the server accepts, keeping every field's type the same:
 * `flattened` becomes OpenSearch's `flat_object` (which takes no parameters) and back, and a
 * dynamic template whose `match_mapping_type` lists several types becomes one template per type
 * where lists are not accepted (Elasticsearch before 8.13, OpenSearch).
 */
export function adaptMappings(mappings: Json, features: MappingFeatures): AdaptedMappings {
  const changes = new Set<string>();
  const other = features.flattenedType === "flattened" ? "flat_object" : "flattened";
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!isObject(value)) return value;
    if (value.type === other) {
      const dropped = Object.keys(value).filter((key) => key !== "type");
      changes.add(
        `${other} fields mapped as ${features.flattenedType}${
          dropped.length > 0 ? ` (without ${dropped.join(", ")})` : ""
        }`,
      );
      return { type: features.flattenedType };
    }
    const result: Json = {};
    for (const [key, child] of Object.entries(value)) {
      result[key] = key === "dynamic_templates" && Array.isArray(child) ? splitTypeLists(child, features) : walk(child);
    }
    return result;
  };
  const splitTypeLists = (templates: unknown[], { mappingTypeLists }: MappingFeatures): unknown[] =>
    templates.flatMap((entry) => {
      if (!isObject(entry)) return [entry];
      return Object.entries(entry).flatMap(([name, rule]) => {
        const types = isObject(rule) ? rule.match_mapping_type : undefined;
        if (mappingTypeLists || !Array.isArray(types)) return [{ [name]: walk(rule) }];
        changes.add("dynamic templates with a list of match_mapping_type split into one per type");
        return types.map((type) => ({ [`${name}_${type}`]: walk({ ...(rule as Json), match_mapping_type: type }) }));
      });
    });
  return { mappings: walk(mappings) as Json, changes: [...changes] };
}
