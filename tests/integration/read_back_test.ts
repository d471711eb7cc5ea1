/**
 * Read-backs of a daily index whose primary has not started (as chaos scenario 6 met one, the
 * bridge having just created it): the real Elasticsearch answers a search of the pattern with 200
 * and that shard missing, a silent undercount. The read-back helper instead waits for the shard
 * and returns the whole answer, or fails after its patience naming it. The primary is held
 * unassigned by an allocation filter on a node name that does not exist, then let go.
 */
import assert from "node:assert/strict";
import { SearchTarget } from "../support/search_target.ts";
import { ELASTIC, integrationTest, MAIN_ELASTIC, uniqueName } from "../support/stack.ts";

integrationTest("a read-back waits for a fresh index's primary instead of answering without it", async () => {
  const prefix = uniqueName("readback");
  const started = `${prefix}-2026-12-01`;
  const unstarted = `${prefix}-2026-12-02`;
  try {
    await MAIN_ELASTIC.request("PUT", `/${started}`, { settings: { number_of_replicas: 0 } });
    for (const bytes of [100, 200]) await MAIN_ELASTIC.request("POST", `/${started}/_doc?refresh=true`, { bytes });
    await MAIN_ELASTIC.request("PUT", `/${unstarted}?wait_for_active_shards=0`, {
      settings: { number_of_replicas: 0, "index.routing.allocation.require._name": "no-such-node" },
    });

    const raw = await (await fetch(`${ELASTIC}/${prefix}-*/_search`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ size: 0 }),
    })).json();
    assert.equal(raw._shards.failed, 1, "Elasticsearch answers without the unstarted shard");
    assert.equal(raw._shards.failures[0].reason.type, "no_shard_available_action_exception");

    const impatient = new SearchTarget(ELASTIC, undefined, 1_000);
    await assert.rejects(
      impatient.request("POST", `/${prefix}-*/_search`, { size: 0 }),
      /shards not started \(1 of 2 shards did not answer\)/,
    );
    await assert.rejects(impatient.sums(prefix), /answered 408/, "the primaries' wait ends in a failure, not a guess");

    const searching = MAIN_ELASTIC.request("POST", `/${prefix}-*/_search`, { size: 0 });
    await MAIN_ELASTIC.request("PUT", `/${unstarted}/_settings`, { "index.routing.allocation.require._name": null });
    const answer = await searching;
    assert.equal(answer._shards.failed, 0);
    assert.equal(answer._shards.successful, 2);
    assert.deepEqual(await MAIN_ELASTIC.sums(prefix), { [started]: { count: 2, bytes: 300, packets: 0 } });
    assert.equal((await MAIN_ELASTIC.documents(prefix)).length, 2);
    assert.equal(await MAIN_ELASTIC.count(prefix), 2);
  } finally {
    await MAIN_ELASTIC.request("DELETE", `/${prefix}-*`).catch(() => {});
  }
});
