/**
 * One line per event, in one of two formats (`LOG_FORMAT`):
 * - `text`, readable by a person and by `grep`:
 *   `2026-11-24T19:20:36.123Z INFO  bulk sent index=sflow-2026-11-24 documents=1000`;
 * - `json`, one object per line with ECS's names, ready to ship into Elasticsearch itself:
 *   `{"@timestamp":"2026-11-24T19:20:36.123Z","log.level":"info","message":"bulk sent","index":"sflow-2026-11-24","documents":1000}`.
 */

export type Level = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";

/** The members a JSON line always has; a field of the same name is kept as `field.<name>`. */
const JSON_RESERVED = new Set(["@timestamp", "log.level", "message"]);

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

function render(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[\s"=]/.test(text ?? "") ? JSON.stringify(text) : String(text);
}

function textLine(timestamp: string, level: Level, message: string, fields: Fields): string {
  const pairs = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}=${render(value)}`)
    .join("");
  return `${timestamp} ${level.toUpperCase().padEnd(5)} ${message}${pairs}`;
}

function jsonLine(timestamp: string, level: Level, message: string, fields: Fields): string {
  const object: Record<string, unknown> = { "@timestamp": timestamp, "log.level": level, message };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    object[JSON_RESERVED.has(key) ? `field.${key}` : key] = value instanceof Error ? value.message : value;
  }
  return JSON.stringify(object);
}

export class Logger {
  #secrets: string[] = [];

  constructor(
    public level: Level = "info",
    private readonly write: (line: string) => void = console.error,
    private readonly format: LogFormat = "text",
  ) {}

  /**
   * Values never to print (passwords, API keys): replaced by `****` wherever they appear in a
   * line, including errors and fields that libraries pass through.
   */
  mask(secrets: string[]): void {
    // Also as JSON escapes them, since fields with spaces or quotes are printed JSON-quoted.
    const forms = secrets.flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]);
    this.#secrets = [...new Set(forms)].filter((form) => form.length > 0).sort((a, b) => b.length - a.length);
  }

  log(level: Level, message: string, fields: Fields = {}): void {
    if (RANK[level] < RANK[this.level]) return;
    const timestamp = new Date().toISOString();
    let line = this.format === "json"
      ? jsonLine(timestamp, level, message, fields)
      : textLine(timestamp, level, message, fields);
    for (const secret of this.#secrets) line = line.replaceAll(secret, "****");
    this.write(line);
  }

  debug(message: string, fields?: Fields): void {
    this.log("debug", message, fields);
  }
  info(message: string, fields?: Fields): void {
    this.log("info", message, fields);
  }
  warn(message: string, fields?: Fields): void {
    this.log("warn", message, fields);
  }
  error(message: string, fields?: Fields): void {
    this.log("error", message, fields);
  }
}
