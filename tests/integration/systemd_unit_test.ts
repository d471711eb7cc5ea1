/**
 * The systemd unit in `packaging/`, checked as systemd reads it: `systemd-analyze verify` (Debian's
 * `systemd`, installed by `stack/stack.sh install`) in a root that holds the unit, the binary's
 * path and systemd's own units, so that no file of the host is needed or touched; and its sandbox
 * scored by `systemd-analyze security`.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../support/fixtures.ts";

const UNIT = "pmacct-kafka-elastic.service";
const unitText = Deno.readTextFileSync(`${REPO_ROOT}packaging/${UNIT}`);

/** A root holding `text` as the installed unit, a stand-in binary at its `ExecStart`, and systemd's units. */
async function rootWith(text: string): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "systemd-root-" });
  await Deno.mkdir(`${root}/etc/systemd/system`, { recursive: true });
  await Deno.writeTextFile(`${root}/etc/systemd/system/${UNIT}`, text);
  const binary = /^ExecStart=(\S+)/m.exec(text)![1];
  await Deno.mkdir(`${root}${binary.slice(0, binary.lastIndexOf("/"))}`, { recursive: true });
  await Deno.writeTextFile(`${root}${binary}`, "#!/bin/sh\n", { mode: 0o755 });
  await Deno.mkdir(`${root}/usr/lib/systemd`, { recursive: true });
  const copy = await new Deno.Command("cp", { args: ["-a", "/usr/lib/systemd/system", `${root}/usr/lib/systemd/`] })
    .output();
  assert.ok(copy.success, new TextDecoder().decode(copy.stderr));
  return root;
}

async function analyze(root: string, ...args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command("systemd-analyze", {
    args: [...args, `--root=${root}`, `/etc/systemd/system/${UNIT}`],
  }).output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

Deno.test("systemd-analyze verify accepts the unit without a word; a misspelt key is caught", async () => {
  const root = await rootWith(unitText);
  const broken = await rootWith(unitText.replace("ProtectSystem=", "ProtectSystm="));
  try {
    const verified = await analyze(root, "verify");
    assert.deepEqual(verified, { code: 0, output: "" });
    // verify exits 0 on an unknown key, and only says so: any word from it is a failure.
    assert.match((await analyze(broken, "verify")).output, /Unknown key 'ProtectSystm'/);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(broken, { recursive: true });
  }
});

Deno.test("the unit runs as a dynamic user in a sandbox systemd scores OK", async () => {
  assert.match(unitText, /^DynamicUser=yes$/m);
  assert.match(unitText, /^EnvironmentFile=\/etc\/pmacct-kafka-elastic\/env$/m);
  assert.match(unitText, /^ProtectSystem=strict$/m);
  assert.match(unitText, /^RestartPreventExitStatus=2$/m, "a configuration error is not restarted");
  assert.doesNotMatch(unitText, /^MemoryDenyWriteExecute=/m, "V8's compiler writes machine code");
  const root = await rootWith(unitText);
  try {
    const { output } = await analyze(root, "security", "--offline=yes");
    const exposure = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(output);
    assert.ok(exposure, output);
    assert.ok(Number(exposure[1]) <= 2, `exposure ${exposure[1]} ${exposure[2]}`);
    assert.equal(exposure[2], "OK");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
