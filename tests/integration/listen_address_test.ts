/**
 * `PROMETHEUS_CLIENT_HOST`: the bridge's endpoints answer only on the address it names. The loopback
 * network holds every 127.x.y.z address, so a server bound to 127.0.0.1 alone refuses 127.0.0.2,
 * while the default (every IPv4 interface) answers on both.
 */
import assert from "node:assert/strict";
import { integrationTest, startBridge, uniqueName, waitFor } from "../support/stack.ts";

/** Whether `/healthz` answers on `address`, or the connection is refused. */
async function answersOn(address: string, port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://${address}:${port}/healthz`);
    await response.body?.cancel();
    return response.ok;
  } catch (error) {
    if (error instanceof TypeError && /refused/i.test(String((error as TypeError).cause ?? error.message))) {
      return false;
    }
    throw error;
  }
}

for (const [host, expected] of [[undefined, [true, true]], ["127.0.0.1", [true, false]]] as const) {
  integrationTest(`PROMETHEUS_CLIENT_HOST=${host ?? "(unset)"}: /healthz on 127.0.0.1 and 127.0.0.2`, async () => {
    const name = uniqueName("listen");
    const bridge = await startBridge({
      KAFKA_TOPIC: name,
      KAFKA_CONSUMER_GROUP_ID: name,
      ELASTIC_INDEX_PREFIX: name,
      ...(host === undefined ? {} : { PROMETHEUS_CLIENT_HOST: host }),
    });
    try {
      // The endpoints are served from the start, ready or not (this topic does not exist).
      await waitFor("/healthz on 127.0.0.1", () => answersOn("127.0.0.1", bridge.port));
      assert.deepEqual(
        [await answersOn("127.0.0.1", bridge.port), await answersOn("127.0.0.2", bridge.port)],
        expected,
      );
    } finally {
      await bridge.stop("SIGKILL");
    }
  });
}
