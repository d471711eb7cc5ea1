/** Reads a `_bulk` body back: the `_id` of each action line, in order. */
export function bulkActionIds(body: Uint8Array): string[] {
  return new TextDecoder().decode(body).split("\n")
    .filter((line, i) => i % 2 === 0 && line !== "")
    .map((line) => JSON.parse(line).index._id);
}
