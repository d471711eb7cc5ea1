/**
 * Everything the bridge reads before it connects anywhere: the environment (with `.env`), the
 * secrets' `_FILE`s, the index template file and the PEM files the TLS settings name. Each problem becomes a
 * {@linkcode ConfigError} naming the variable, which `main.ts` turns into exit status 2.
 */
import { type Config, ConfigError, parseConfig, type TlsFiles } from "./mod.ts";
import { readEnvironment } from "./env_file.ts";
import { resolveSecretFiles } from "./secret_files.ts";
import { DEFAULT_TEMPLATE_FILES } from "./elastic.ts";
import { parseTemplateFile, type TemplateFile } from "../elastic/index_template.ts";

/** PEM texts of one connection's TLS settings. */
export interface PemMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface Settings {
  config: Config;
  templateFile: TemplateFile;
  kafkaTls?: PemMaterial;
  elasticTls: PemMaterial;
}

function readPem(variable: string, path: string | undefined, kind: "CERTIFICATE" | "PRIVATE KEY"): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(variable, `a readable PEM file (${(error as Error).message})`, path);
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) {
    throw new ConfigError(variable, `a PEM file holding a ${kind.toLowerCase()}`, path);
  }
  return text;
}

function readTls(prefix: string, files: TlsFiles & { caVariable: string }): PemMaterial {
  return {
    ca: readPem(files.caVariable, files.caFile, "CERTIFICATE"),
    cert: readPem(`${prefix}_CERT_FILE`, files.certFile, "CERTIFICATE"),
    key: readPem(`${prefix}_KEY_FILE`, files.keyFile, "PRIVATE KEY"),
  };
}

/** The template file; the default one is also built into the compiled binary. */
function readTemplateFile(path: string): TemplateFile {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound) || !Object.values(DEFAULT_TEMPLATE_FILES).includes(path)) {
      throw new ConfigError("ELASTIC_INDEX_TEMPLATE", `a readable file (${(error as Error).message})`, path);
    }
    text = Deno.readTextFileSync(new URL(`../../${path}`, import.meta.url));
  }
  return parseTemplateFile(text, path);
}

/** Reads and checks every setting and file; throws {@linkcode ConfigError} on the first problem. */
export function loadSettings(): Settings {
  const config = parseConfig(resolveSecretFiles(readEnvironment(), (path) => Deno.readTextFileSync(path)));
  const kafkaFiles = config.kafka.security.tls;
  return {
    config,
    templateFile: readTemplateFile(config.elastic.indexTemplateFile),
    kafkaTls: kafkaFiles && readTls("KAFKA_SSL", { ...kafkaFiles, caVariable: "KAFKA_SSL_CA_FILE" }),
    elasticTls: readTls("ELASTIC_CLIENT", { ...config.elastic.tls, caVariable: "ELASTIC_CA_FILE" }),
  };
}
