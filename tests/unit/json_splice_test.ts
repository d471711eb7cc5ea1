import assert from "node:assert/strict";
import { spliceJsonObject } from "../../lib/pmacct/json_splice.ts";

const replace = (field: string, current: unknown, value: string | null) => ({ field, current, value });

Deno.test("replaced values and the added member land where they belong, the rest untouched", () => {
  const text = '{"stamp_inserted": "1795547400", "bytes": 18446744073709551615, "ip_src": "", "t": 1.50}';
  const spliced = String(spliceJsonObject(
    text,
    [replace("ip_src", "", null), replace("stamp_inserted", "1795547400", "2026-11-24 19:10:00")],
    '"@timestamp":"2026-11-24T19:10:00.000Z"',
  ));
  assert.equal(
    spliced,
    '{"stamp_inserted": "2026-11-24 19:10:00", "bytes": 18446744073709551615, "ip_src": null, "t": 1.50,' +
      '"@timestamp":"2026-11-24T19:10:00.000Z"}',
  );
});

Deno.test("numbers are replaced only when written exactly as read", () => {
  const member = '"m":1';
  assert.equal(
    String(spliceJsonObject('{"t":1677577599}', [replace("t", 1677577599, "x")], member)),
    '{"t":"x","m":1}',
  );
  assert.equal(spliceJsonObject('{"t":1677577599.0}', [replace("t", 1677577599, "x")], member), undefined);
  assert.equal(spliceJsonObject('{"t":16775775990}', [replace("t", 1677577599, "x")], member), undefined);
});

Deno.test("whatever cannot be placed for certain is left to the caller", () => {
  const member = '"m":1';
  const cases: Array<[string, string, unknown]> = [
    ['{"a":"", "n":{"a":""}}', "a", ""], // also in a nested object
    ['{"a":"x", "a":""}', "a", ""], // written twice
    ['{"b":"a", "a":""}', "a", ""], // the name also as a value
    ['{"\\u0061":""}', "a", ""], // the name spelt with an escape
    ['{"a":"\\u0030"}', "a", "0"], // the value spelt with an escape
  ];
  for (const [text, field, current] of cases) {
    assert.equal(spliceJsonObject(text, [replace(field, current, null)], member), undefined, text);
  }
  assert.equal(spliceJsonObject("{}", [], member), undefined);
  assert.equal(spliceJsonObject(" { } ", [], member), undefined);
  assert.equal(String(spliceJsonObject('{"a":1}\r ', [], member)), '{"a":1,"m":1}');
});

Deno.test("a name that only looks like the top-level one is never edited", () => {
  const member = '"m":1';
  const cases = [
    // `a"ip_src` is a key of its own; the real `ip_src` is spelt with an escape.
    String.raw`{"a\"ip_src": "", "ip\u005fsrc": ""}`,
    // The only literal `"ip_src"` is in a nested object; the top-level one is escaped.
    String.raw`{"ip\u005fsrc": "", "n": {"ip_src": ""}}`,
    // The literal one is inside a string value, after an escaped quote.
    String.raw`{"v": "x\"ip_src\": \"", "ip\u005fsrc": ""}`,
  ];
  for (const text of cases) {
    assert.equal(JSON.parse(text).ip_src, "", text);
    const spliced = spliceJsonObject(text, [replace("ip_src", "", null)], member);
    // Either left to the caller, or the top-level ip_src (and only it) nulled.
    if (spliced === undefined) continue;
    const expected = { ...JSON.parse(text), ip_src: null, m: 1 };
    assert.deepEqual(JSON.parse(String(spliced)), expected, text);
  }
});
