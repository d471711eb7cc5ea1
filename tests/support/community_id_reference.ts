/** The Community ID spec's reference implementation, as the tests' oracle. */
import assert from "node:assert/strict";
import type { FlowTuple } from "../../lib/pmacct/community_id.ts";
import { REPO_ROOT } from "./fixtures.ts";

const REFERENCE_PYTHON = `${REPO_ROOT}.stack/python/bin/python`;

/** The ids of the spec's reference implementation (installed by `stack/stack.sh install`). */
export async function referenceIds(flows: FlowTuple[]): Promise<string[]> {
  try {
    await Deno.stat(REFERENCE_PYTHON);
  } catch {
    throw new Error(`${REFERENCE_PYTHON} is missing: run stack/stack.sh install`);
  }
  const child = new Deno.Command(REFERENCE_PYTHON, {
    args: [`${REPO_ROOT}tests/support/community_id_reference.py`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(
    flows.map((
      flow,
    ) => [flow.source, flow.destination, flow.protocol, flow.sourcePort ?? null, flow.destinationPort ?? null]),
  )));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}
