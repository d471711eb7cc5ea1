/** Reads a `_bulk` body back: the `_index` and `_id` of each action line, in order. */
export function bulkActions(body: Uint8Array): Array<{ index: string; id: string }> {
  return new TextDecoder().decode(body).split("\n")
    .filter((line, i) => i % 2 === 0 && line !== "")
    .map((line) => {
      const { _index, _id } = JSON.parse(line).index;
      return { index: _index, id: _id };
    });
}

/** Reads a `_bulk` body back: the `_id` of each action line, in order. */
export function bulkActionIds(body: Uint8Array): string[] {
  return bulkActions(body).map(({ id }) => id);
}
