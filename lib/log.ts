/**
 * One line per event, readable by a person and by `grep`:
 * `2026-11-24T19:20:36.123Z INFO  bulk sent index=sflow-2026-11-24 documents=1000`.
 */

export type Level = "debug" | "info" | "warn" | "error";

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

function render(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[\s"=]/.test(text ?? "") ? JSON.stringify(text) : String(text);
}

export class Logger {
  constructor(public level: Level = "info", private readonly write: (line: string) => void = console.error) {}

  log(level: Level, message: string, fields: Fields = {}): void {
    if (RANK[level] < RANK[this.level]) return;
    const pairs = Object.entries(fields)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => ` ${key}=${render(value)}`)
      .join("");
    this.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${pairs}`);
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
