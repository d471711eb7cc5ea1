/**
 * Elasticsearch's `cluster_block_exception`: an index or the whole cluster refuses writes
 * (`index.blocks.write`, `index.blocks.read_only`, the flood-stage `read_only_allow_delete`,
 * `cluster.blocks.read_only`). It arrives as 403 (or 429 for flood stage), the statuses of refused
 * credentials, so it is recognised by its type and read from its reason, which names the index
 * and the block: `index [sflow-2026-12-01] blocked by: [FORBIDDEN/8/index write (api)];`.
 *
 * @example
 * ```ts
 * parseBlocks("index [sflow-2026-12-01] blocked by: [FORBIDDEN/8/index write (api)];");
 * // [{ index: "sflow-2026-12-01", blocks: ["index write (api)"], text: "index [sflow-2026-12-01] blocked by: ..." }]
 * ```
 */

/** The error type of a write a block refused. */
export const CLUSTER_BLOCK = "cluster_block_exception";

/** One refusal: the index it names (none for a cluster-level block), each block's description, its text. */
export interface ClusterBlock {
  index?: string;
  blocks: string[];
  /** The refusal as Elasticsearch wrote it; {@linkcode parseBlocks} reads it back as this. */
  text: string;
}

const BLOCKED_BY = /(?:index \[([^\]]+)\] )?blocked by: \[(.*?)\];/g;
/** Each block is `STATUS/id/description`; a description may itself hold ", " and "/". */
const BLOCK_SEPARATOR = /, (?=[A-Z_]+\/\d+\/)/;
const BLOCK_STATUS_AND_ID = /^[A-Z_]+\/\d+\//;

/** Whether an error type is a block's. */
export function isClusterBlock(type: string | undefined): boolean {
  return type === CLUSTER_BLOCK;
}

/** The refusals a block's reason names; none when the text is not a block's. */
export function parseBlocks(reason: string): ClusterBlock[] {
  return [...reason.matchAll(BLOCKED_BY)].map(([text, index, list]) => ({
    ...(index === undefined ? {} : { index }),
    blocks: list.split(BLOCK_SEPARATOR).map((block) => block.replace(BLOCK_STATUS_AND_ID, "")),
    text,
  }));
}

/** What an operator reads: which index (or the cluster) is blocked, and by what. */
export function describeBlocks(blocks: ClusterBlock[]): string {
  return blocks.map(({ index, blocks }) =>
    `${index === undefined ? "the cluster" : `index ${index}`} is blocked: ${blocks.join(", ")}`
  ).join("; ");
}
