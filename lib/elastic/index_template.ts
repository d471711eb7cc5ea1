/**
 * The settings and mappings every daily index gets. The file keeps the original tool's format,
 * `{"mappings": {...}}`, and may add `"settings": {...}` (codec, sort, refresh interval, an ILM or
 * ISM policy); the bridge installs it as a composable index template for
 * `<prefix>-0*` to `<prefix>-9*` (its daily indices, never another prefix's), so an index gets
 * them whoever creates it (the bridge, a replay, a person), with the configured shards and
 * replicas. The bridge also creates each daily index with the same settings and mappings itself,
 * for clusters that create nothing on their own. Pure: the adapter sends what this builds.
 */
import { ConfigError } from "../config/parse.ts";
import type { FieldNames } from "../pmacct/document.ts";
import { dailyIndexPatterns } from "./index_name.ts";
import { DOC_VALUE_TYPES, type TemplateFeatures } from "./search_server.ts";

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === "object" && !Array.isArray(value);

export interface IndexTemplate {
  index_patterns: string[];
  priority: number;
  template: {
    /** Flat `index.*` keys, as {@linkcode flattenSettings} writes them. */
    settings: Json;
    mappings: Json;
  };
  /** `index_prefix` names the prefix the template is for. */
  _meta: { managed_by: string; index_prefix: string };
}

/** What the template file holds. */
export interface TemplateFile {
  mappings: Json;
  /** Flat `index.*` keys ({@linkcode flattenSettings}); empty when the file has none. */
  settings: Json;
}

/** The settings the environment sets when asked (`ELASTIC_INDEX_SHARDS`, `_REPLICAS`): then they win over the file's. */
export const SHARDS_SETTING = "index.number_of_shards";
export const REPLICAS_SETTING = "index.number_of_replicas";

/**
 * Settings as Elasticsearch itself reads them: nested objects joined with dots, and `index.` put
 * before a key that lacks it, so that `{"index": {"codec": "x"}}`, `{"index.codec": "x"}` and
 * `{"codec": "x"}` are one setting, which the environment's shards and replicas can replace.
 *
 * @example
 * ```ts
 * flattenSettings({ index: { sort: { field: "@timestamp" } }, codec: "best_compression" });
 * // { "index.sort.field": "@timestamp", "index.codec": "best_compression" }
 * ```
 */
export function flattenSettings(settings: Json): Json {
  const flat: Json = {};
  const walk = (value: Json, path: string) => {
    for (const [key, child] of Object.entries(value)) {
      const name = path === "" ? key : `${path}.${key}`;
      if (isObject(child)) walk(child, name);
      else flat[name.startsWith("index.") ? name : `index.${name}`] = child;
    }
  };
  walk(settings, "");
  return flat;
}

/** Parses the template file's text; a bad file is a configuration error. */
export function parseTemplateFile(text: string, path: string): TemplateFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("ELASTIC_INDEX_TEMPLATE", `a JSON file (${path}: ${(error as Error).message})`, path);
  }
  const { mappings, settings = {} } = (isObject(parsed) ? parsed : {}) as { mappings?: unknown; settings?: unknown };
  if (!isObject(mappings)) {
    throw new ConfigError(
      "ELASTIC_INDEX_TEMPLATE",
      `a file of the form {"mappings": {...}} (${path} has no "mappings" object)`,
      path,
    );
  }
  if (!isObject(settings)) {
    throw new ConfigError(
      "ELASTIC_INDEX_TEMPLATE",
      `a file whose "settings", when present, is an object of index settings (${path})`,
      path,
    );
  }
  return { mappings, settings: flattenSettings(settings) };
}

/**
 * The template for `prefix`: the file's settings, with `shards` and `replicas` where given (the
 * environment's), else the file's, else 1 shard and no replica (the original tool's defaults).
 */
export function buildIndexTemplate(
  prefix: string,
  file: TemplateFile,
  shards?: number,
  replicas?: number,
): IndexTemplate {
  return {
    index_patterns: dailyIndexPatterns(prefix),
    priority: templatePriority(prefix),
    template: {
      settings: {
        ...file.settings,
        [SHARDS_SETTING]: shards ?? file.settings[SHARDS_SETTING] ?? 1,
        [REPLICAS_SETTING]: replicas ?? file.settings[REPLICAS_SETTING] ?? 0,
      },
      mappings: file.mappings,
    },
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

/** A template file rewritten for a server, and what was changed, for the start-up log. */
export interface AdaptedTemplate {
  file: TemplateFile;
  changes: string[];
}

/** Settings of the lifecycle manager each distribution runs: the other's would be refused. */
const LIFECYCLE_SETTINGS = {
  /** Elasticsearch's ILM, which OpenSearch lacks. */
  elasticsearch: "index.lifecycle.",
  /** OpenSearch's ISM (also under its Open Distro name), which Elasticsearch lacks. */
  opensearch: ["index.plugins.index_state_management.", "index.opendistro.index_state_management."],
} as const;

/**
 * Rewrites a template file for what the server accepts, keeping every field's type the same:
 * - `flattened` becomes OpenSearch's `flat_object` (which takes no parameters) and back;
 * - a dynamic template whose `match_mapping_type` lists several types becomes one template per
 *   type where lists are not accepted (Elasticsearch before 8.13, OpenSearch);
 * - a field kept in doc values only (`index: false`) is indexed where the server cannot search
 *   its type by doc values alone (Elasticsearch 7.17, say), so that every field stays searchable;
 * - the other distribution's lifecycle policy (ILM on OpenSearch, ISM on Elasticsearch) is left
 *   out, so that one file serves both.
 */
export function adaptTemplateFile(file: TemplateFile, features: TemplateFeatures): AdaptedTemplate {
  const changes = new Set<string>();
  const other = features.flattenedType === "flattened" ? "flat_object" : "flattened";
  const indexedAgain = new Set<string>();
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
    if (
      typeof value.type === "string" && value.index === false && value.doc_values !== false &&
      DOC_VALUE_TYPES.has(value.type) && !features.docValueSearch.has(value.type)
    ) {
      delete result.index;
      indexedAgain.add(value.type);
    }
    return result;
  };
  const splitTypeLists = (templates: unknown[], { mappingTypeLists }: TemplateFeatures): unknown[] =>
    templates.flatMap((entry) => {
      if (!isObject(entry)) return [entry];
      return Object.entries(entry).flatMap(([name, rule]) => {
        const types = isObject(rule) ? rule.match_mapping_type : undefined;
        if (mappingTypeLists || !Array.isArray(types)) return [{ [name]: walk(rule) }];
        changes.add("dynamic templates with a list of match_mapping_type split into one per type");
        return types.map((type) => ({ [`${name}_${type}`]: walk({ ...(rule as Json), match_mapping_type: type }) }));
      });
    });
  const mappings = walk(file.mappings) as Json;
  if (indexedAgain.size > 0) {
    changes.add(
      `fields kept in doc values only indexed, as this server cannot search ${
        [...indexedAgain].sort().join(", ")
      } fields by doc values`,
    );
  }
  const foreign = features.lifecycle === "elasticsearch"
    ? LIFECYCLE_SETTINGS.opensearch
    : [LIFECYCLE_SETTINGS.elasticsearch];
  const settings: Json = {};
  for (const [key, value] of Object.entries(file.settings)) {
    if (foreign.some((prefix) => key.startsWith(prefix))) {
      changes.add(`${key} left out: this server has no such setting`);
    } else settings[key] = value;
  }
  return { file: { mappings, settings }, changes: [...changes] };
}

/**
 * A warning when the template does not map the field names documents are written in: ECS names
 * with a template of pmacct's (`source.ip` would then be mapped dynamically, as text), or the
 * other way round.
 */
export function fieldNamesMismatch(file: TemplateFile, fieldNames: FieldNames): string | undefined {
  const properties = isObject(file.mappings.properties) ? file.mappings.properties : {};
  const mapsEcs = isObject(properties.source) || isObject(properties.network);
  const mapsPmacct = isObject(properties.ip_src) || isObject(properties.bytes);
  if (fieldNames === "ecs" && !mapsEcs && mapsPmacct) {
    return "ELASTIC_FIELD_NAMES=ecs, but ELASTIC_INDEX_TEMPLATE maps pmacct's names: ECS fields get dynamic mappings (use ecs-index-template.json)";
  }
  if (fieldNames === "pmacct" && mapsEcs && !mapsPmacct) {
    return "ELASTIC_FIELD_NAMES=pmacct, but ELASTIC_INDEX_TEMPLATE maps ECS names: pmacct's fields get dynamic mappings (use new-index-template.json)";
  }
  return undefined;
}
