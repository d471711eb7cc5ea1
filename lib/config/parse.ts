/**
 * Reading settings from an environment map: the error every bad setting raises, and the small
 * parsers each settings group uses. Pure: no I/O.
 */

/** A setting that is missing or invalid; `main.ts` turns it into exit status 2. */
export class ConfigError extends Error {
  constructor(readonly variable: string, readonly expected: string, readonly got?: string) {
    super(
      got === undefined
        ? `${variable} is required: ${expected}`
        : `${variable}=${JSON.stringify(got)} is invalid: expected ${expected}`,
    );
    this.name = "ConfigError";
  }
}

export type Environment = Record<string, string | undefined>;

/** One row of the README's configuration table. */
export interface Variable {
  name: string;
  default: string;
  meaning: string;
}

const TRUE_WORDS = ["yes", "true", "1", "on"];
const FALSE_WORDS = ["no", "false", "0", "off"];

/** The trimmed value, or `undefined` when unset or blank. */
export function text(env: Environment, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

export function required(env: Environment, name: string, expected: string): string {
  const value = text(env, name);
  if (value === undefined) throw new ConfigError(name, expected);
  return value;
}

export function flag(env: Environment, name: string, fallback: boolean): boolean {
  const value = text(env, name);
  if (value === undefined) return fallback;
  const lower = value.toLowerCase();
  if (TRUE_WORDS.includes(lower)) return true;
  if (FALSE_WORDS.includes(lower)) return false;
  throw new ConfigError(name, "YES or NO", value);
}

export function integer(
  env: Environment,
  name: string,
  fallback: number,
  { min, max }: { min: number; max?: number },
): number {
  const value = text(env, name);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  const range = max === undefined ? `>= ${min}` : `${min}..${max}`;
  if (!/^-?\d+$/.test(value) || parsed < min || (max !== undefined && parsed > max)) {
    throw new ConfigError(name, `an integer ${range}`, value);
  }
  return parsed;
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * A size in bytes: a whole number of bytes, or of `kb`, `mb`, `gb` (1024-based, as Elasticsearch
 * reads them; `kib`, `mib`, `gib` too), any case, e.g. `64mb`.
 */
export function byteSize(
  env: Environment,
  name: string,
  fallback: number,
  { min, max }: { min: number; max: number },
): number {
  const value = text(env, name);
  if (value === undefined) return fallback;
  const [, digits, unit] = /^(\d+)\s*([a-z]*)$/i.exec(value.trim()) ?? [];
  const scale = BYTE_UNITS[unit?.toLowerCase() ?? "?"];
  const bytes = Number(digits) * scale;
  if (digits === undefined || scale === undefined || bytes < min || bytes > max) {
    throw new ConfigError(name, `a size from ${formatBytes(min)} to ${formatBytes(max)}, e.g. 64mb`, value);
  }
  return bytes;
}

/** `67108864` as `64mb`: the largest unit that divides it. */
export function formatBytes(bytes: number): string {
  for (const unit of ["gb", "mb", "kb"]) {
    if (bytes % BYTE_UNITS[unit] === 0) return `${bytes / BYTE_UNITS[unit]}${unit}`;
  }
  return `${bytes}b`;
}

export function optionalInteger(
  env: Environment,
  name: string,
  bounds: { min: number; max?: number },
): number | undefined {
  return text(env, name) === undefined ? undefined : integer(env, name, 0, bounds);
}

/** One of `choices`, compared without case; returned as spelt in `choices`. */
export function choice<T extends string>(env: Environment, name: string, choices: readonly T[], fallback: T): T;
export function choice<T extends string>(
  env: Environment,
  name: string,
  choices: readonly T[],
  fallback?: T,
): T | undefined;
export function choice<T extends string>(
  env: Environment,
  name: string,
  choices: readonly T[],
  fallback?: T,
): T | undefined {
  const value = text(env, name);
  if (value === undefined) return fallback;
  const found = choices.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
  if (found === undefined) {
    const expected = choices.length === 2
      ? choices.join(" or ")
      : `${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}`;
    throw new ConfigError(name, expected, value);
  }
  return found;
}

/** A comma-separated list, blanks dropped. */
export function list(value: string): string[] {
  return value.split(",").map((part) => part.trim()).filter((part) => part !== "");
}

/** Two settings that only make sense together (a certificate and its key, a user and a password). */
export function pair(env: Environment, first: string, second: string): [string, string] | undefined {
  const a = text(env, first);
  const b = text(env, second);
  if (a === undefined && b === undefined) return undefined;
  if (a === undefined || b === undefined) {
    throw new ConfigError(a === undefined ? first : second, `${first} and ${second} set together`);
  }
  return [a, b];
}

/** Duration units, largest first. */
const DURATION_UNITS_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/**
 * A duration such as `90s`, `30m`, `1h` or `7d` in milliseconds, or `off` (`undefined`: no bound);
 * `fallback` when unset.
 */
export function durationOrOff(env: Environment, name: string, fallback: number | undefined): number | undefined {
  const value = text(env, name);
  if (value === undefined) return fallback;
  if (value.toLowerCase() === "off") return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) throw new ConfigError(name, DURATION_EXPECTED, value);
  return ms;
}

/** What a duration looks like, for an error message. */
export const DURATION_EXPECTED = "a duration such as 90s, 30m, 1h or 7d, or off";

/** `90s`, `30m`, `1h`, `7d` in milliseconds; `undefined` when `value` is none. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d{1,6})([smhd])$/.exec(value);
  return match === null ? undefined : Number(match[1]) * DURATION_UNITS_MS[match[2]];
}

/** What {@linkcode durationOrOff} reads, back as text in the largest unit that divides it (`7d`, `90m`). */
export function formatDurationOrOff(ms: number | undefined): string {
  if (ms === undefined) return "off";
  const [unit, size] = Object.entries(DURATION_UNITS_MS).find(([, size]) => ms % size === 0) ?? ["s", 1000];
  return `${ms / size}${unit}`;
}
