/**
 * On the stack's production-like Elasticsearch (es9: 9.1.5, HTTPS, users only,
 * `action.auto_create_index: false`), a bridge whose user may write documents but not create
 * indices says which privilege it lacks, is not ready, and dead-letters nothing; once the user
 * is granted it, every record lands. (On the main Elasticsearch every user also gets the
 * anonymous superuser role, so a missing privilege cannot be shown there.)
 */
import assert from "node:assert/strict";
import { assertIndexedTotals, expectedTotals, produceLiveTraffic } from "../support/live_traffic.ts";
import { ES9_ADMIN, SearchTarget, STACK_CA } from "../support/search_target.ts";
import {
  integrationTest,
  readiness,
  stack,
  startBridge,
  uniqueName,
  waitFor,
  waitForLog,
  waitReady,
} from "../support/stack.ts";

integrationTest(
  "a user without create_index is told which privilege it lacks; records land once it is granted",
  async () => {
    await stack("up", "es9");
    const target = new SearchTarget("https://127.0.0.1:9202", ES9_ADMIN);
    const topic = uniqueName("privilege");
    const user = uniqueName("writer").replaceAll("-", "_");
    const password = `pw-${crypto.randomUUID()}`;
    try {
      await produceLiveTraffic(topic, topic);
      await stack("user", "es9", "add", user, password, "flows_writer_without_create_index");
      await waitFor(
        "es9 to know the new user",
        async () => {
          const login = await new SearchTarget("https://127.0.0.1:9202", { username: user, password })
            .request("GET", "/_security/_authenticate");
          return login.roles?.includes("flows_writer_without_create_index") && !login.roles.includes("superuser");
        },
        30_000,
        500,
      );
      const bridge = await startBridge({
        KAFKA_TOPIC: topic,
        KAFKA_CONSUMER_GROUP_ID: topic,
        ELASTIC_INDEX_PREFIX: topic,
        ELASTIC_MAX_TIME_TO_SEND: "1",
        ELASTIC_HOSTS: "127.0.0.1:9202",
        ELASTIC_CA_FILE: STACK_CA,
        ELASTIC_USERNAME: user,
        ELASTIC_PASSWORD: password,
      });
      try {
        const line = await waitForLog(bridge, "grant it the create_index privilege", 90_000);
        assert.match(line, new RegExp(`may not create index ${topic}-\\d{4}-\\d\\d-\\d\\d`));
        await waitFor("/readyz to name index_creation", async () => {
          const { status, checks, problems } = await readiness(bridge);
          return status === 503 && checks.index_creation === false &&
            /create_index/.test(problems.index_creation ?? "");
        });
        assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), 0);
        assert.equal(await bridge.metric("pmacct_bridge_documents_indexed_total"), 0);

        await stack("user", "es9", "role", user, "superuser");
        const expected = await expectedTotals(topic, topic);
        await waitReady(bridge, 120_000);
        await assertIndexedTotals(bridge, topic, expected, target);
      } finally {
        await bridge.stop("SIGKILL");
      }
    } finally {
      await stack("down", "es9");
    }
  },
);
