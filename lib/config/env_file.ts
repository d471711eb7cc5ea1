/**
 * Reads `.env` (with `npm:dotenv`'s parser) under the process environment: a variable set in the
 * environment wins over the file, as with the original tool's `load_dotenv()`.
 */
import { parse } from "dotenv";
import type { Environment } from "./mod.ts";

export function mergeEnvironment(fileText: string | undefined, processEnv: Environment): Environment {
  return { ...(fileText === undefined ? {} : parse(fileText)), ...processEnv };
}

/** The merged environment; a missing `.env` is fine, an unreadable one is reported by the caller. */
export function readEnvironment(path = ".env"): Environment {
  let text: string | undefined;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return mergeEnvironment(text, Deno.env.toObject());
}
