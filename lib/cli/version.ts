/**
 * `--version`: the bridge's version and those of what it runs on, read from `deno.json` (the
 * version and the pinned npm imports), which `deno compile` embeds in the binary.
 */
import project from "../../deno.json" with { type: "json" };
import { pinnedVersion } from "./command.ts";

const CLIENTS = ["kafkajs", "@elastic/elasticsearch", "@opensearch-project/opensearch", "prom-client"] as const;

export function versionText(): string {
  const imports: Record<string, string> = project.imports;
  return [
    `pmacct-kafka-elastic ${project.version}`,
    `deno ${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
    ...CLIENTS.map((name) => `${name} ${pinnedVersion(imports[name])}`),
  ].join("\n");
}
