/**
 * `deno task compile` builds one binary that starts without the repository beside it. `deno
 * compile` downloads its runtime (denort), which these machines cannot reach: the test runs only
 * where DENORT_BIN points to a runtime, and says that it skipped otherwise.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../support/fixtures.ts";

const denort = Deno.env.get("DENORT_BIN");
if (!denort) console.log("compile test skipped: DENORT_BIN is not set (deno compile needs a local denort runtime)");

Deno.test({
  name:
    "the compiled binary answers --version, --help and --check, exits 2 naming a missing setting, and carries its default template",
  ignore: !denort,
  fn: async () => {
    const build = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: REPO_ROOT,
      env: { DENORT_BIN: denort! },
    }).output();
    assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));
    const elsewhere = await Deno.makeTempDir();
    const run = (env: Record<string, string>, args: string[] = []) =>
      new Deno.Command(`${REPO_ROOT}dist/pmacct-kafka-elastic`, {
        args,
        cwd: elsewhere,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
    const version = await run({}, ["--version"]);
    assert.equal(version.code, 0);
    assert.match(new TextDecoder().decode(version.stdout), /^pmacct-kafka-elastic \d+\.\d+\.\d+\n/);
    const help = await run({}, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(new TextDecoder().decode(help.stdout), /ELASTIC_RETENTION/);
    const check = await run(
      { KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9", KAFKA_TOPIC: "t", ELASTIC_HOSTS: "127.0.0.1:9" },
      [
        "--check",
      ],
    );
    assert.equal(check.code, 1, "nothing listens on port 9");
    assert.match(new TextDecoder().decode(check.stdout), /^FAIL +kafka +cannot reach Kafka at 127\.0\.0\.1:9/m);
    const missing = await run({});
    assert.equal(missing.code, 2);
    assert.match(new TextDecoder().decode(missing.stderr), /KAFKA_TOPIC is required/);
    const badTemplate = await run({
      KAFKA_BOOTSTRAP_SERVERS: "127.0.0.1:9",
      KAFKA_TOPIC: "t",
      ELASTIC_INDEX_TEMPLATE: "absent.json",
    });
    assert.equal(badTemplate.code, 2);
    assert.match(new TextDecoder().decode(badTemplate.stderr), /ELASTIC_INDEX_TEMPLATE="absent.json" is invalid/);
    await Deno.remove(elsewhere, { recursive: true });
  },
});
