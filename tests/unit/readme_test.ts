import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);
const readme = Deno.readTextFileSync(new URL("README.md", root));

Deno.test("the README stays short, and links every page of docs/, each of which exists", () => {
  assert.ok(readme.length < 15_000, `README.md is ${readme.length} bytes`);
  const pages = [...Deno.readDirSync(new URL("docs/", root))].map((entry) => entry.name).filter((name) =>
    name.endsWith(".md")
  );
  assert.ok(pages.length >= 5);
  for (const page of pages) assert.ok(readme.includes(`](docs/${page}`), `docs/${page} is not linked`);
  for (const [, page] of readme.matchAll(/\]\(docs\/([^)#]+)/g)) {
    assert.ok(pages.includes(page), `README links docs/${page}, which does not exist`);
  }
});

Deno.test("the README shows the command line, LOG_FORMAT, retention, alerts and several topics, with examples", () => {
  for (
    const text of [
      "--help",
      "--version",
      "--check",
      "--backfill 2026-11-24",
      "--replay-dead-letters",
      "LOG_FORMAT=json",
      "ELASTIC_RETENTION=30d",
      "monitoring/alerts.yml",
    ]
  ) {
    assert.ok(readme.includes(text), text);
  }
  assert.match(readme, /KAFKA_TOPIC=[\w.]+,[\w.]+/);
  assert.match(readme, /"log\.level":"error"/);
});
