/**
 * `stack/stack.sh up` from a clone under a mode-700 directory (root's home, say), which the
 * `elasticsearch` user cannot search: the stack moves to /var/tmp, `.stack` links there, and
 * Elasticsearch starts from it. The clone is a copy of what the script reads (`stack/` and
 * `bench/install.sh`); what this stack installed is linked into the clone's (hard links, not
 * downloaded again), so `up`'s install step finds it all. It takes port 9200, so this stack's
 * Elasticsearch is stopped meanwhile and started again after.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../support/fixtures.ts";
import { ELASTIC, integrationTest, run, stack, waitFor } from "../support/stack.ts";

const isRoot = Deno.uid() === 0;

async function nodeDataPath(): Promise<string | undefined> {
  try {
    const response = await fetch(`${ELASTIC}/_nodes/_local/settings?filter_path=nodes.*.settings.path.data`);
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const { nodes } = await response.json();
    const data = (Object.values(nodes)[0] as { settings: { path: { data: string | string[] } } }).settings.path.data;
    return Array.isArray(data) ? data[0] : data;
  } catch {
    return undefined;
  }
}

integrationTest("stack.sh up from a clone in a directory only root may search", async () => {
  if (!isRoot) {
    console.log("skipped: only root's runs switch to the elasticsearch user");
    return;
  }
  const home = await Deno.makeTempDir({ prefix: "home-700-" });
  await Deno.chmod(home, 0o700);
  const clone = `${home}/clone`;
  await Deno.mkdir(clone);
  await run("cp", ["-r", `${REPO_ROOT}stack`, `${clone}/`]);
  await Deno.mkdir(`${clone}/bench`);
  await Deno.copyFile(`${REPO_ROOT}bench/install.sh`, `${clone}/bench/install.sh`);
  const script = `${clone}/stack/stack.sh`;
  let moved: string | undefined;
  try {
    const status = await new Deno.Command("bash", { args: [script, "status"], stdout: "null", stderr: "piped" })
      .output();
    const stderr = new TextDecoder().decode(status.stderr);
    moved = await Deno.readLink(`${clone}/.stack`);
    assert.match(moved, /^\/var\/tmp\/pmacct-kafka-elastic-stack-[0-9a-f]{12}$/);
    assert.match(stderr, /elasticsearch cannot reach .*: the stack lives in \/var\/tmp\//);
    const installed = [...Deno.readDirSync(`${REPO_ROOT}.stack`)].find((entry) =>
      /^elasticsearch-8\./.test(entry.name)
    );
    assert.ok(installed, "this stack's Elasticsearch 8 (stack/stack.sh install)");
    await run("cp", ["-a", `${REPO_ROOT}.stack/${installed.name}`, `${moved}/`]);

    await stack("down", "elasticsearch");
    await run("bash", [script, "up", "elasticsearch"], { timeoutMs: 300_000 });
    const dataPath = await waitFor("the clone's Elasticsearch to answer", nodeDataPath);
    assert.equal(dataPath, `${moved}/data/elasticsearch`);
  } finally {
    await run("bash", [script, "down", "elasticsearch"], { timeoutMs: 300_000 }).catch(() => {});
    await stack("up", "elasticsearch");
    await Deno.remove(home, { recursive: true });
    if (moved !== undefined) await Deno.remove(moved, { recursive: true });
  }
});
