/**
 * A function's results memoised by key, at most `limit` of them: when full, the memo starts
 * over. The keys the bridge memoises by (a day, an index, a time string) come in runs, so a memo
 * emptied now and then refills with the keys in use, and it never grows with the data; the last
 * key asked is answered first, without a look-up.
 * `undefined` results are computed again each time.
 *
 * @example
 * ```ts
 * const square = memoise((n: number) => n * n, 100);
 * square(4); // 16, computed
 * square(4); // 16, remembered
 * ```
 */
export function memoise<K, V>(compute: (key: K) => V, limit: number): (key: K) => V {
  const results = new Map<K, V>();
  // The last key asked, answered without hashing it: a zone or a prefix is the same on every call.
  let lastKey: K | undefined;
  let lastResult: V | undefined;
  return (key) => {
    if (key === lastKey && lastResult !== undefined) return lastResult;
    let result = results.get(key);
    if (result === undefined) {
      result = compute(key);
      if (results.size >= limit) results.clear();
      results.set(key, result);
    }
    lastKey = key;
    lastResult = result;
    return result;
  };
}
