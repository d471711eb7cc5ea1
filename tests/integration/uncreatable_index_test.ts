/**
 * A daily index that cannot be created (an alias already holds its name) fails only its own
 * records: with `ELASTIC_MAX_RETRIES=3`, the healthy day's records of the very same batches are all
 * indexed, and only the other day's are dead-lettered, as `retry_budget_exhausted`.
 */
import assert from "node:assert/strict";
import { createTopic, daysAgo, flowRecord, withKafka } from "../support/flow_records.ts";
import {
  committedOffset,
  indexedSums,
  integrationTest,
  MAIN_ELASTIC,
  readTopic,
  settingsOf,
  startBridge,
  uniqueName,
  waitFor,
} from "../support/stack.ts";

const HEALTHY = 1500;
const HELD = 500;

integrationTest("a day whose index cannot be created fails only its own records, not the batch's others", async () => {
  const name = uniqueName("uncreatable");
  const [healthyDay, heldDay] = [daysAgo(2), daysAgo(1)];
  const healthyIndex = `${name}-${healthyDay.toISOString().slice(0, 10)}`;
  const heldIndex = `${name}-${heldDay.toISOString().slice(0, 10)}`;
  // The alias points at an index outside the template's patterns (`<prefix>-<digit>*`).
  await MAIN_ELASTIC.request("PUT", `/${name}-holder`, { aliases: { [heldIndex]: {} } });
  // Three healthy records to one held, so that every batch holds both days.
  const records = Array.from({ length: HEALTHY + HELD }, (_, i) => flowRecord(i, i % 4 === 3 ? heldDay : healthyDay));
  const bridge = await startBridge({ ...settingsOf(name), ELASTIC_MAX_RETRIES: "3" });
  try {
    await withKafka(async (admin, produce) => {
      await createTopic(admin, name);
      await produce(name, records);
      await waitFor(
        `every record indexed or dead-lettered: the group's offset at ${records.length} (log: ${bridge.logPath})`,
        async () => (await committedOffset(admin, name, name)) === records.length || undefined,
        90_000,
        500,
      );
    });
    const sums = await indexedSums(name);
    assert.equal(sums[healthyIndex]?.count, HEALTHY, "the healthy day's records, every one");
    assert.equal(Object.keys(sums).length, 1, `nothing else indexed: ${JSON.stringify(sums)}`);
    const letters = await readTopic(`${name}-dlq`);
    assert.equal(letters.length, HELD, "the held day's records, and only those, dead-lettered");
    assert.ok(letters.every((letter) => letter.headers["dlq.reason"] === "retry_budget_exhausted"));
    const heldOffsets = records.flatMap((_, offset) => offset % 4 === 3 ? [String(offset)] : []);
    assert.deepEqual(letters.map((letter) => letter.headers["dlq.source.offset"]).sort(), heldOffsets.sort());
    assert.equal(await bridge.metric("pmacct_bridge_dead_letters_total"), HELD);
  } finally {
    await bridge.stop();
    await MAIN_ELASTIC.request("DELETE", `/${name}-*`).catch(() => {});
  }
});
