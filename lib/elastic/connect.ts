/**
 * Start-up against the cluster: choose whom to trust (`ELASTIC_CA_FINGERPRINT`), find out which
 * server answers (Elasticsearch or OpenSearch, and its version), refuse what is not supported
 * with a message naming it, and install the index template adapted to that server. Retries
 * until it works: a cluster that is down, refuses the bridge or is being upgraded is a state to
 * wait out, not a reason to crash-loop.
 */
import type { ElasticConfig } from "../config/mod.ts";
import { ConfigError } from "../config/parse.ts";
import type { Health } from "../runtime/health.ts";
import {
  adaptTemplateFile,
  buildIndexTemplate,
  type IndexTemplate,
  REPLICAS_SETTING,
  SHARDS_SETTING,
  type TemplateFile,
  templateName,
} from "./index_template.ts";
import type { Logger } from "../runtime/log.ts";
import { retryUntilDone } from "../runtime/retry.ts";
import { describeServer, type ServerInfo, supportProblem, templateFeatures } from "./search_server.ts";
import type { PemMaterial } from "../config/settings.ts";
import { caWithFingerprint, FingerprintMismatch } from "./ca_fingerprint.ts";
import { elasticsearchTransport } from "./elasticsearch_client.ts";
import { SearchService } from "./service.ts";
import type { ElasticStatus } from "./status.ts";
import { commonClientOptions, SearchError, type SearchTransport } from "./transport.ts";

/** Start-up steps retry at least every 10 s, so a fixed server is noticed soon. */
const START_BACKOFF = { initialMs: 250, maxMs: 10_000 };

export interface ConnectOptions {
  config: ElasticConfig;
  pem: PemMaterial;
  templateFile: TemplateFile;
  health: Health;
  status: ElasticStatus;
  log: Logger;
}

export interface Connected {
  service: SearchService;
  template: IndexTemplate;
}

/** Raised when the server answers but is not one the bridge supports. */
class UnsupportedServer extends Error {}

/** The CA whose fingerprint was given, read from the first node that presents it. */
async function trustedCa(config: ElasticConfig): Promise<string | undefined> {
  const fingerprint = config.tls.caFingerprint;
  if (fingerprint === undefined) return undefined;
  let last: Error | undefined;
  for (const node of config.nodes) {
    try {
      return await caWithFingerprint(node, fingerprint);
    } catch (error) {
      last = error as Error;
      if (error instanceof FingerprintMismatch) throw error;
    }
  }
  throw new SearchError(`no node answered a TLS handshake: ${last?.message}`);
}

/**
 * Which server answers. Elasticsearch is asked through its own client (`_nodes/_local`, since
 * `GET /` needs a module some distributions lack); a server the Elastic client refuses as another
 * product is asked `GET /` through the OpenSearch client.
 */
async function identify(
  elastic: SearchTransport,
  opensearch: () => Promise<SearchTransport>,
): Promise<ServerInfo> {
  try {
    const { body } = await elastic.request({
      method: "GET",
      path: "/_nodes/_local",
      querystring: { filter_path: "nodes.*.version" },
    });
    const version = Object.values(body?.nodes ?? {}).map((node) => (node as { version?: string }).version)[0];
    if (version === undefined) throw new SearchError("Elasticsearch did not say its version (_nodes/_local)");
    return { distribution: "elasticsearch", version };
  } catch (error) {
    if (!(error instanceof SearchError) || !error.otherProduct) throw error;
  }
  const { body } = await (await opensearch()).request({ method: "GET", path: "/" });
  const version = body?.version?.number;
  if (typeof version !== "string") throw new UnsupportedServer("the server is neither Elasticsearch nor OpenSearch");
  return { distribution: body.version.distribution === "opensearch" ? "opensearch" : "elasticsearch", version };
}

/**
 * Chooses whom to trust, identifies the server and refuses an unsupported one; returns the
 * service over the client made for that server (the other one is closed). Failures are reported
 * to readiness before they are thrown. One attempt (`connectSearch` retries it; `--check` not).
 */
export async function openService(
  { config, pem, health, status }: Pick<ConnectOptions, "config" | "pem" | "health" | "status">,
): Promise<SearchService> {
  let ca: string | undefined;
  try {
    ca = await trustedCa(config);
  } catch (error) {
    if (error instanceof FingerprintMismatch) health.fail("elasticsearch_tls", error.message);
    else status.failed(error as SearchError);
    throw error;
  }
  const options = commonClientOptions(config, ca, pem);
  const elasticsearch = elasticsearchTransport(options);
  // The OpenSearch client is loaded only for a server that is not Elasticsearch: an
  // Elasticsearch host never holds its code and objects.
  let opensearch: SearchTransport | undefined;
  const openOpenSearch = async () =>
    opensearch ??= (await import("./opensearch_client.ts")).opensearchTransport(options);
  let server: ServerInfo;
  try {
    server = await identify(elasticsearch, openOpenSearch);
    const problem = supportProblem(server);
    if (problem !== undefined) throw new UnsupportedServer(problem);
  } catch (error) {
    await Promise.all([elasticsearch.close(), opensearch?.close()]);
    if (error instanceof UnsupportedServer) health.fail("elasticsearch_server", error.message);
    else status.failed(error as SearchError, { step: "identifying the server" });
    throw error;
  }
  health.pass("elasticsearch_server");
  const transport = server.distribution === "opensearch" ? await openOpenSearch() : elasticsearch;
  await (server.distribution === "opensearch" ? elasticsearch : opensearch)?.close();
  return new SearchService(server, transport, config.pipeline);
}

/**
 * The index template for `server`: the template file adapted to what it accepts, with the
 * configured shards and replicas; `changes` says what was adapted.
 */
export function templateFor(
  config: ElasticConfig,
  file: TemplateFile,
  server: ServerInfo,
): { template: IndexTemplate; changes: string[] } {
  const adapted = adaptTemplateFile(file, templateFeatures(server));
  const template = buildIndexTemplate(config.indexPrefix, adapted.file, config.shards, config.replicas);
  const owned: Array<[string, string, number | undefined]> = [
    [SHARDS_SETTING, "ELASTIC_INDEX_SHARDS", config.shards],
    [REPLICAS_SETTING, "ELASTIC_INDEX_REPLICAS", config.replicas],
  ];
  const changes = [...adapted.changes];
  for (const [setting, variable, value] of owned) {
    const fromFile = file.settings[setting];
    if (value !== undefined && fromFile !== undefined && String(fromFile) !== String(value)) {
      changes.push(`${setting} is ${value} from ${variable}, not the file's ${fromFile}`);
    }
  }
  return { template, changes };
}

/** The readiness check of `ELASTIC_PIPELINE`. */
export const PIPELINE_CHECK = "ingest_pipeline";

/**
 * Waits for the configured ingest pipeline: writing through one that is missing would fail every
 * record. A user that may not read pipelines is trusted to have named one that exists.
 */
async function waitForPipeline(service: SearchService, pipeline: string, options: ConnectOptions): Promise<void> {
  const { health, status, log } = options;
  const problem = `ingest pipeline ${pipeline} (ELASTIC_PIPELINE) does not exist; waiting for it`;
  const found = await retryUntilDone(
    async () => {
      let found: Awaited<ReturnType<SearchService["pipelineExists"]>>;
      try {
        found = await service.pipelineExists(pipeline);
      } catch (error) {
        status.failed(error as SearchError, { step: "looking up the ingest pipeline" });
        throw error;
      }
      if (found === "absent") {
        health.fail(PIPELINE_CHECK, problem);
        throw new Error(problem);
      }
      return found;
    },
    (error, retryInMs, attempt) =>
      log.debug("ingest pipeline not found yet", { error: error.message, retry_in_ms: retryInMs, attempt }),
    START_BACKOFF,
  );
  if (found === "unknown") {
    log.warn("the bridge's user may not read ingest pipelines: ELASTIC_PIPELINE is used unchecked", { pipeline });
  }
  status.succeeded();
  health.pass(PIPELINE_CHECK);
}

/**
 * Connects as described above; resolves once the template is installed and the ingest pipeline,
 * if one is named, exists.
 */
export async function connectSearch(options: ConnectOptions): Promise<Connected> {
  const { config, templateFile, status, log } = options;
  const connected = await retryUntilDone(
    async () => {
      const service = await openService(options);
      const { server } = service;
      const { template, changes } = templateFor(config, templateFile, server);
      log.info("connected", {
        server: describeServer(server),
        client: server.distribution === "opensearch" ? "@opensearch-project/opensearch" : "@elastic/elasticsearch",
        adapted: changes.length > 0 ? changes.join("; ") : "nothing",
      });
      try {
        await service.putIndexTemplate(templateName(config.indexPrefix), template);
      } catch (error) {
        await service.close();
        const failure = error as SearchError;
        if (failure.status === 400) {
          throw new ConfigError(
            "ELASTIC_INDEX_TEMPLATE",
            `a template ${describeServer(server)} accepts (${failure.message})`,
            config.indexTemplateFile,
          );
        }
        status.failed(failure, { step: "installing the index template" });
        throw error;
      }
      status.succeeded();
      return { service, template };
    },
    (error, retryInMs, attempt) => {
      if (error instanceof ConfigError) throw error;
      log.debug("Elasticsearch start-up step failed; retrying", {
        error: error.message,
        retry_in_ms: retryInMs,
        attempt,
      });
    },
    START_BACKOFF,
  );
  if (config.pipeline !== undefined) await waitForPipeline(connected.service, config.pipeline, options);
  return connected;
}
