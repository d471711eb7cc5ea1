/**
 * The mappings every daily index gets. The file keeps the original tool's format,
 * `{"mappings": {...}}`; the bridge installs it as a composable index template for
 * `<prefix>-*`, so an index gets the mappings whoever creates it (the bridge, a replay, a
 * person), with the configured shards and replicas.
 */
import type { Client } from "@elastic/elasticsearch";
import { ConfigError } from "./config.ts";
import { indexPattern } from "./index_name.ts";

export interface IndexTemplate {
  index_patterns: string[];
  priority: number;
  template: {
    settings: { number_of_shards: number; number_of_replicas: number };
    mappings: Record<string, unknown>;
  };
  _meta: Record<string, string>;
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
    index_patterns: [indexPattern(prefix)],
    // Above the built-in templates (priority 100 at most), so it wins for our indices.
    priority: 200,
    template: { settings: { number_of_shards: shards, number_of_replicas: replicas }, mappings },
    _meta: { managed_by: "pmacct-kafka-elastic" },
  };
}

/** The template's name: one per index prefix, so several bridges with different prefixes coexist. */
export function templateName(prefix: string): string {
  return `${prefix}-pmacct`;
}

export async function installIndexTemplate(client: Client, prefix: string, template: IndexTemplate): Promise<void> {
  await client.indices.putIndexTemplate({ name: templateName(prefix), ...template });
}
