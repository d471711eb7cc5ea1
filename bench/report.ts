/** The benchmark's output: the table an operator sizes a host by, the targets, and a CPU profile's top costs. */
import type { StorageRow } from "./storage.ts";
import type { Measurement } from "./shippers.ts";
import type { SteadyResult } from "./steady.ts";

const number = (value: number | undefined, digits = 0) =>
  value === undefined
    ? "—"
    : value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function measurementTable(lag: number, rows: Measurement[]): string {
  const lines = [
    `lag ${number(lag)} records:`,
    "| shipper | records/s from start | records/s from ready | CPU µs/record (after ready) | start-up CPU s | peak RSS MB |",
    "| --- | --: | --: | --: | --: | --: |",
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.shipper} | ${number(row.records / row.secondsFromStart)} | ${
        number(row.records / row.secondsFromReady)
      } | ${number(row.cpuMicrosPerRecord, 1)} | ${number(row.startupCpuSeconds, 2)} | ${number(row.peakRssMb)} |`,
    );
  }
  return lines.join("\n");
}

export function steadyTable(result: SteadyResult): string {
  return [
    `steady rate: ${number(result.rate)} records/s for ${result.seconds} s (bridge):`,
    "| produced | indexed | CPU µs/record | RSS MB min–max | RSS MB max, first minute → last minute | max lag |",
    "| --: | --: | --: | --: | --: | --: |",
    `| ${number(result.produced)} | ${number(result.indexed)} | ${number(result.cpuMicrosPerRecord, 1)} | ${
      number(result.rss.min)
    }–${number(result.rss.max)} | ${number(result.rss.firstMinuteMax)} → ${number(result.rss.lastMinuteMax)} | ${
      number(result.maxLag)
    } |`,
  ].join("\n");
}

/**
 * CPU µs per record of the parts of a drain measured one at a time: the record path with no I/O
 * (`bench/pipeline_alone.ts`) and the `_bulk` requests alone (`bench/bulk_alone.ts`); kafkajs
 * alone comes from each lag's rows.
 */
export interface PartFloors {
  recordPath: number;
  bulk: number;
}

/** Whether each target of issue 17 (CPU, memory, disk and Elasticsearch's rate) is met. */
export function targets(
  byLag: Map<number, Measurement[]>,
  steady: SteadyResult | undefined,
  storage: StorageRow[] = [],
  floors?: PartFloors,
): string[] {
  const lines: string[] = [];
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  for (const [lag, rows] of byLag) {
    const bridge = rows.find((row) => row.shipper === "bridge")!;
    const raw = rows.find((row) => row.shipper === "raw _bulk loader");
    lines.push(
      `lag ${number(lag)}: bridge CPU ${number(bridge.cpuMicrosPerRecord, 1)} µs/record (target ≤ 8.5): ${
        verdict(bridge.cpuMicrosPerRecord! <= 8.5)
      }`,
    );
    const kafka = rows.find((row) => row.shipper.startsWith("kafkajs alone"))?.cpuMicrosPerRecord;
    if (floors && kafka !== undefined) {
      // What the bridge cannot go below while it uses these parts: their costs alone, added up.
      const sum = kafka + floors.recordPath + floors.bulk;
      lines.push(
        `lag ${number(lag)}: the parts alone add up to ${number(sum, 1)} µs/record: kafkajs ${number(kafka, 1)} + ` +
          `record path ${number(floors.recordPath, 1)} + _bulk ${number(floors.bulk, 1)}`,
      );
    }
    if (raw) {
      const ratio = (bridge.records / bridge.secondsFromReady) / (raw.records / raw.secondsFromReady);
      lines.push(
        `lag ${number(lag)}: bridge/raw throughput from ready ${ratio.toFixed(2)} (target ≥ 0.8): ${
          verdict(ratio >= 0.8)
        }`,
      );
    }
    if (lag >= 1_000_000) {
      const floor = rows.find((row) => row.shipper.startsWith("kafkajs alone"));
      lines.push(
        `lag ${number(lag)}: bridge peak RSS ${number(bridge.peakRssMb)} MB (target ≤ 200): ${
          verdict(bridge.peakRssMb! <= 200)
        }${floor ? `; kafkajs alone at its pace, with its modules loaded: ${number(floor.peakRssMb)} MB` : ""}`,
      );
    }
  }
  if (steady) {
    lines.push(
      `steady: bridge CPU ${number(steady.cpuMicrosPerRecord, 1)} µs/record (target ≤ 12): ${
        verdict(steady.cpuMicrosPerRecord <= 12)
      }; lost ${steady.produced - steady.indexed}`,
    );
  }
  const [original, bridge] = storage;
  if (original && bridge) {
    const ratio = bridge.docsPerSecond / original.docsPerSecond;
    lines.push(
      `storage: ${bridge.bytesPerFlow.toFixed(1)} B per flow with the bridge's template (target ≤ 110): ${
        verdict(bridge.bytesPerFlow <= 110)
      }; Elasticsearch indexes it at ${ratio.toFixed(2)}× the original tool's template's rate (target ≥ 1.3): ${
        verdict(ratio >= 1.3)
      }`,
    );
  }
  return lines;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Where a profile node's code comes from: an npm package, the bridge's own file, or the runtime. */
function origin(url: string): string {
  const npm = /registry\.npmjs\.org\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (npm) return npm[1];
  const own = /\/(lib\/[^/]+(?:\/[^/]+)?|main\.ts)$/.exec(url);
  if (own) return own[1];
  return url === "" ? "(V8 and Deno built-ins)" : url.replace(/^.*\//, "");
}

/**
 * The costliest code in a V8 `.cpuprofile`, as shares of the busy (non-idle) samples: by
 * function (self time) and by package (self time of all its functions).
 */
export function topSelfTime(path: string, count = 15): { byFunction: string[]; byPackage: string[] } {
  const profile = JSON.parse(Deno.readTextFileSync(path)) as { nodes: ProfileNode[] };
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") continue;
    busy += hits;
    const name = `${functionName || "(anonymous)"} ${url ? `${origin(url)}:${lineNumber + 1}` : ""}`.trim();
    functions.set(name, (functions.get(name) ?? 0) + hits);
    const from = functionName.startsWith("(") ? functionName : origin(url);
    packages.set(from, (packages.get(from) ?? 0) + hits);
  }
  const top = (totals: Map<string, number>) =>
    [...totals].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, hits]) =>
      `${((hits / busy) * 100).toFixed(1).padStart(5)} %  ${name}`
    );
  return { byFunction: top(functions), byPackage: top(packages) };
}
