/**
 * The bridge on the secured listeners of the stack's broker: mutual TLS, SASL_PLAINTEXT with
 * PLAIN and SASL_SSL with SCRAM-SHA-512. pmacct writes on the plain listener; the bridge reads
 * (and creates the dead-letter topic) over the secured one. A wrong password or CA gives one
 * clear line and a named `/readyz` check, and the bridge carries on once the broker accepts it.
 */
import assert from "node:assert/strict";
import { STACK_CA, STACK_CERTS } from "../support/search_target.ts";
import { assertIndexedTotals, expectedTotals, produceLiveTraffic } from "../support/live_traffic.ts";
import {
  alive,
  type BridgeProcess,
  integrationTest,
  logLines,
  readiness,
  readTopic,
  runMain,
  stack,
  startBridge,
  uniqueName,
  waitFor,
  waitReady,
} from "../support/stack.ts";

/** One live replay shared by the tests of this file (each reads it as its own group). */
let source: Promise<string> | undefined;
function sourceTopic(): Promise<string> {
  source ??= (async () => {
    const topic = uniqueName("secure");
    await produceLiveTraffic(topic, topic);
    return topic;
  })();
  return source;
}

const SASL_SSL = {
  KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9096",
  KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
  KAFKA_SASL_MECHANISM: "SCRAM-SHA-512",
  KAFKA_SSL_CA_FILE: STACK_CA,
};

async function startOn(topic: string, prefix: string, env: Record<string, string>): Promise<BridgeProcess> {
  return await startBridge({
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: prefix,
    ELASTIC_INDEX_PREFIX: prefix,
    ELASTIC_MAX_TIME_TO_SEND: "1",
    ...env,
  });
}

async function assertIndexed(bridge: BridgeProcess, topic: string, prefix: string) {
  await assertIndexedTotals(bridge, prefix, await expectedTotals(topic, prefix));
  assert.equal((await readTopic(`${topic}-dlq`)).length, 0, "dead-letter topic");
}

async function indexesOver(env: Record<string, string>) {
  const topic = await sourceTopic();
  const prefix = uniqueName("secure");
  const bridge = await startOn(topic, prefix, env);
  try {
    await waitReady(bridge);
    await assertIndexed(bridge, topic, prefix);
    assert.equal((await bridge.stop("SIGTERM")).code, 0);
  } finally {
    await bridge.stop("SIGKILL");
  }
}

integrationTest("mutual TLS (SSL with a client certificate)", async () => {
  await indexesOver({
    KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9094",
    KAFKA_SECURITY_PROTOCOL: "SSL",
    KAFKA_SSL_CA_FILE: STACK_CA,
    KAFKA_SSL_CERT_FILE: `${STACK_CERTS}/client.pem`,
    KAFKA_SSL_KEY_FILE: `${STACK_CERTS}/client.key`,
  });
});

integrationTest("SASL_PLAINTEXT with PLAIN", async () => {
  await indexesOver({
    KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9095",
    KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT",
    KAFKA_SASL_MECHANISM: "PLAIN",
    KAFKA_SASL_USERNAME: "bridge",
    KAFKA_SASL_PASSWORD: "bridge-secret",
  });
});

integrationTest("SASL_SSL with SCRAM-SHA-512", async () => {
  await indexesOver({ ...SASL_SSL, KAFKA_SASL_USERNAME: "bridge", KAFKA_SASL_PASSWORD: "bridge-secret" });
});

integrationTest(
  "a wrong SASL password: one clear line, /readyz names it, and indexing starts once the broker accepts it",
  async () => {
    const topic = await sourceTopic();
    const user = uniqueName("user");
    const password = `pw-${crypto.randomUUID()}`;
    await stack("scram", "kafka", user, "the-old-password");
    const prefix = uniqueName("rotated");
    const bridge = await startOn(topic, prefix, {
      ...SASL_SSL,
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD: password,
    });
    try {
      const problem = "Kafka refused the SASL credentials";
      await waitFor("/readyz to name kafka_credentials", async () => {
        const { status, checks, problems } = await readiness(bridge);
        return status === 503 && checks.kafka_credentials === false && problems.kafka_credentials?.startsWith(problem);
      });
      await new Promise((resolve) => setTimeout(resolve, 8000));
      assert.equal(await alive(bridge), true, "the bridge exited on a wrong password");
      assert.equal((await logLines(bridge, problem)).length, 1, "the problem is logged once");
      assert.equal((await logLines(bridge, password)).length, 0, "the password is never printed");
      assert.equal((await logLines(bridge, "KAFKA_SASL_PASSWORD=****")).length, 1, "the start-up line masks it");

      await stack("scram", "kafka", user, password);
      await waitReady(bridge, 90_000);
      await assertIndexed(bridge, topic, prefix);
      assert.equal((await logLines(bridge, "resolved check=kafka_credentials")).length, 1);
    } finally {
      await bridge.stop("SIGKILL");
    }
  },
);

integrationTest("a CA that did not sign the broker's certificate is named as such", async () => {
  const topic = await sourceTopic();
  const bridge = await startOn(topic, uniqueName("wrong-ca"), {
    ...SASL_SSL,
    KAFKA_SSL_CA_FILE: `${STACK_CERTS}/other-ca.pem`,
    KAFKA_SASL_USERNAME: "bridge",
    KAFKA_SASL_PASSWORD: "bridge-secret",
  });
  try {
    const problem = "Kafka's certificate is not trusted: set KAFKA_SSL_CA_FILE; retrying";
    await waitFor("/readyz to name kafka_tls", async () => {
      const { status, checks, problems } = await readiness(bridge);
      return status === 503 && checks.kafka_tls === false && problems.kafka_tls === problem;
    });
    assert.equal(await alive(bridge), true);
    assert.equal((await logLines(bridge, "cannot reach")).length, 0, "a TLS failure is not 'cannot reach'");
  } finally {
    await bridge.stop("SIGKILL");
  }
});

integrationTest("--check reads KAFKA_SASL_PASSWORD_FILE: the right password passes, a wrong one fails", async () => {
  const topic = await sourceTopic();
  const file = await Deno.makeTempFile({ prefix: "kafka-password-" });
  const env = {
    ...SASL_SSL,
    KAFKA_TOPIC: topic,
    KAFKA_CONSUMER_GROUP_ID: uniqueName("check-file"),
    KAFKA_SASL_USERNAME: "bridge",
    KAFKA_SASL_PASSWORD_FILE: file,
  };
  try {
    await Deno.writeTextFile(file, "bridge-secret\n");
    const good = await runMain(["--check"], env);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /^ok +kafka +1 broker/m);
    await Deno.writeTextFile(file, "not-the-password\n");
    const wrong = await runMain(["--check"], env);
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.match(wrong.stdout, /^FAIL +kafka +Kafka refused the SASL credentials/m);
  } finally {
    await Deno.remove(file);
  }
});
