/**
 * Secrets read from files, the convention of Docker and Kubernetes secrets: `ELASTIC_PASSWORD_FILE`
 * names a file whose content is `ELASTIC_PASSWORD`. Resolved before the settings are parsed, so
 * every rule about a secret (a user needs a password, masking in the log) holds either way.
 *
 * @example
 * ```ts
 * const env = resolveSecretFiles({ ELASTIC_PASSWORD_FILE: "/run/secrets/es" }, () => "s3cret\n");
 * env.ELASTIC_PASSWORD; // "s3cret"
 * ```
 */
import { ConfigError, type Environment, text, type Variable } from "./parse.ts";

/** The secrets that may come from a file; each is also read from `<name>_FILE`. */
export const SECRET_VARIABLES = ["ELASTIC_PASSWORD", "ELASTIC_API_KEY", "KAFKA_SASL_PASSWORD"] as const;

/** The `_FILE` variable of each secret, which the start-up line also names. */
export const SECRET_FILE_NAMES: readonly string[] = SECRET_VARIABLES.map((name) => `${name}_FILE`);

/** `variables` with each secret's meaning naming its `_FILE` too: the README's table and `--help`. */
export function withSecretFiles(variables: readonly Variable[]): Variable[] {
  return variables.map((variable) =>
    (SECRET_VARIABLES as readonly string[]).includes(variable.name)
      ? { ...variable, meaning: `${variable.meaning} Or \`${variable.name}_FILE\`: a file holding it (a secret).` }
      : variable
  );
}

/**
 * `env` with each secret set from the file its `<name>_FILE` names (kept, for the start-up line
 * to say where the secret came from); `read` returns a file's text. Throws {@linkcode ConfigError} naming the `_FILE` variable when the file cannot be read or
 * is empty, and when the secret is also set directly (which one would win is not obvious).
 */
export function resolveSecretFiles(env: Environment, read: (path: string) => string): Environment {
  const resolved = { ...env };
  for (const name of SECRET_VARIABLES) {
    const fileVariable = `${name}_FILE`;
    const path = text(env, fileVariable);
    if (path === undefined) continue;
    if (text(env, name) !== undefined) {
      throw new ConfigError(fileVariable, `${name} or ${fileVariable}, not both`, path);
    }
    let secret: string;
    try {
      secret = read(path);
    } catch (error) {
      throw new ConfigError(fileVariable, `a readable file (${(error as Error).message})`, path);
    }
    secret = secret.replace(/\r?\n$/, "").trim();
    if (secret === "") throw new ConfigError(fileVariable, `a file holding ${name}, not an empty one`, path);
    // A second line is no part of a password or key (and no HTTP header may hold one).
    if (/[\r\n]/.test(secret)) throw new ConfigError(fileVariable, `a file holding ${name} on one line`, path);
    resolved[name] = secret;
  }
  return resolved;
}
