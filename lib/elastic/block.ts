/**
 * Elasticsearch's `cluster_block_exception`: an index or the whole cluster refuses writes
 * (`index.blocks.write`, `index.blocks.read_only`, the flood-stage `read_only_allow_delete`,
 * `cluster.blocks.read_only`). It arrives as 403 (or 429 for flood stage), the statuses of refused
 * credentials, so it is recognised by its type and read from its reason, which names the index
 * and the block: `index [sflow-2026-12-01] blocked by: [FORBIDDEN/8/index write (api)];`. A closed
 * index is one too: `_bulk` answers its items 400 `index_closed_exception` (reason `closed`, no
 * index named), and the cluster's state holds it as block 4, `index closed`, as which it is kept.
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

/** The error type of an item written to a closed index (status 400, reason `closed`). */
export const INDEX_CLOSED = "index_closed_exception";

/** Elasticsearch's own name for the block a closed index has (`_cluster/state/blocks`, id 4). */
const CLOSED_BLOCK = "index closed";

/** Whether an error type is a block's. */
export function isClusterBlock(type: string | undefined): boolean {
  return type === CLUSTER_BLOCK;
}

/** Whether an item's error type says the index takes no writes now: a block, or the index closed. */
export function isWriteBlocked(type: string | undefined): boolean {
  return type === CLUSTER_BLOCK || type === INDEX_CLOSED;
}

/** The block that refused an item written to `index`, if a block did. */
export function itemBlock(
  index: string,
  error: { type?: string; reason?: string } | undefined,
): ClusterBlock | undefined {
  if (error?.type === INDEX_CLOSED) {
    return { index, blocks: [CLOSED_BLOCK], text: `index [${index}] blocked by: [FORBIDDEN/4/${CLOSED_BLOCK}];` };
  }
  return isClusterBlock(error?.type) ? parseBlocks(error?.reason ?? "")[0] : undefined;
}

/** Whether the block is a closed index's: reopening the index, not lifting a setting, ends it. */
function isClosedIndex(block: ClusterBlock): boolean {
  return block.index !== undefined && block.blocks.includes(CLOSED_BLOCK);
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

/**
 * What an operator reads of the blocks in force and what ends each: a block is lifted, a closed
 * index is reopened (`POST /<index>/_open`).
 */
export function explainBlocks(blocks: ClusterBlock[]): string {
  const lifted = blocks.filter((block) => !isClosedIndex(block));
  return [
    ...(lifted.length > 0 ? [`${describeBlocks(lifted)}; ${UNTIL_LIFTED}`] : []),
    ...blocks.filter(isClosedIndex).map(({ index }) =>
      `index ${index} is closed; Elasticsearch takes no writes there until it is reopened: POST /${index}/_open`
    ),
  ].join("; ");
}

/** What ends a block: said after the blocks, or after a refusal whose text names none. */
export const UNTIL_LIFTED = "Elasticsearch takes no writes there until the block is lifted";
