/**
 * The binary's command line, run as a process: `--help`, `--version`, and `--check` against the
 * real stack (good), with Elasticsearch stopped or Kafka unreachable (exit 1, naming the server),
 * and with a bad setting (exit 2, naming the variable).
 */
import assert from "node:assert/strict";
import { TABLE_END, TABLE_START } from "../../scripts/settings_table.ts";
import { REPO_ROOT } from "../support/fixtures.ts";
import { ensureTopic, integrationTest, runMain, stack, uniqueName } from "../support/stack.ts";

const project = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}deno.json`));

Deno.test("--help exits 0 and lists every setting of the README's table", async () => {
  const { code, stdout } = await runMain(["--help"], {});
  assert.equal(code, 0);
  const readme = Deno.readTextFileSync(`${REPO_ROOT}README.md`);
  const table = readme.slice(readme.indexOf(TABLE_START), readme.indexOf(TABLE_END));
  const names = [...table.matchAll(/^\| `([A-Z_]+)`/gm)].map((match) => match[1]);
  assert.ok(names.length >= 30, `only ${names.length} settings found in the README's table`);
  for (const name of names) assert.match(stdout, new RegExp(`^  ${name} {3}\\(`, "m"), `${name} missing from --help`);
  assert.match(stdout, /--check/);
});

Deno.test("--version prints the bridge's, Deno's and the clients' versions", async () => {
  const { code, stdout } = await runMain(["--version"], {});
  assert.equal(code, 0);
  const lines = stdout.trim().split("\n");
  assert.equal(lines[0], `pmacct-kafka-elastic ${project.version}`);
  assert.match(stdout, new RegExp(`^deno ${Deno.version.deno.replaceAll(".", "\\.")} \\(V8 `, "m"));
  for (const name of ["kafkajs", "@elastic/elasticsearch"]) {
    const version = /@(\d[^/]*)$/.exec(project.imports[name])![1];
    assert.ok(lines.includes(`${name} ${version}`), `${name} ${version} missing:\n${stdout}`);
  }
});

Deno.test("deno task start -- --version passes the flag through the task", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "start", "--", "--version"],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.match(new TextDecoder().decode(output.stdout), new RegExp(`^pmacct-kafka-elastic ${project.version}$`, "m"));
});

integrationTest("--check: 0 on the stack, 1 naming a server that is down, 2 on a bad setting", async () => {
  const topic = uniqueName("check");
  await ensureTopic(topic);
  const env = { KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9092", KAFKA_TOPIC: topic, ELASTIC_HOSTS: "127.0.0.1:9200" };

  const good = await runMain(["--check"], env);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^ok +kafka +1 broker/m);
  assert.match(good.stdout, new RegExp(`^ok +kafka topic +${topic}: \\d+ partitions`, "m"));
  assert.match(good.stdout, /^ok +elasticsearch +Elasticsearch \d+\.\d+\.\d+ at http:\/\/127\.0\.0\.1:9200$/m);
  assert.match(good.stdout, /^ok +index template +new-index-template\.json accepted/m);
  assert.match(good.stdout, /^ready to run$/m);

  const bad = await runMain(["--check"], { ...env, ELASTIC_INDEX_SHARDS: "many" });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /ELASTIC_INDEX_SHARDS="many" is invalid/);

  const noKafka = await runMain(["--check"], { ...env, KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:1" });
  assert.equal(noKafka.code, 1, noKafka.stdout);
  assert.match(noKafka.stdout, /^FAIL +kafka +cannot reach Kafka at 127\.0\.0\.1:1/m);

  await stack("down", "elasticsearch");
  try {
    const noElastic = await runMain(["--check"], env);
    assert.equal(noElastic.code, 1, noElastic.stdout);
    assert.match(noElastic.stdout, /^FAIL +elasticsearch +cannot reach Elasticsearch at http:\/\/127\.0\.0\.1:9200/m);
    assert.match(noElastic.stdout, /^ok +kafka /m);
    assert.match(noElastic.stdout, /^1 check failed$/m);
  } finally {
    await stack("up", "elasticsearch");
  }
});
