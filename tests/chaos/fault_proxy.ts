/**
 * A small HTTP proxy in front of the real Elasticsearch that, while a storm is on, answers like
 * an overloaded node: a third of the `_bulk` requests get 429 as a whole, the others have every
 * second item refused with 429 `es_rejected_execution_exception` (those items never reach
 * Elasticsearch; the rest are forwarded and indexed for real). With `bulkDelayMs` it is a slow
 * node instead: each `_bulk` is held that long before it goes on (lowering it releases the
 * requests held). Test code only.
 */
const TOO_MANY = {
  type: "es_rejected_execution_exception",
  reason: "rejected execution of coordinating operation (fault proxy storm)",
};

export interface FaultProxy {
  url: string;
  /** 429s answered so far (whole requests and items). */
  rejected: number;
  storm: boolean;
  /** How long each `_bulk` request is held before it is forwarded (0: not at all). */
  bulkDelayMs: number;
  /** `_bulk` requests held now. */
  held: number;
  close(): Promise<void>;
}

export function startFaultProxy(upstream = "http://127.0.0.1:9200"): FaultProxy {
  let requests = 0;
  const proxy: FaultProxy = {
    url: "",
    rejected: 0,
    storm: false,
    bulkDelayMs: 0,
    held: 0,
    close: () => server.shutdown(),
  };
  const hold = async () => {
    const since = Date.now();
    proxy.held++;
    try {
      while (Date.now() - since < proxy.bulkDelayMs) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      proxy.held--;
    }
  };
  const forward = async (request: Request, path: string, body?: string): Promise<Response> => {
    const headers = new Headers(request.headers);
    headers.delete("host");
    headers.delete("content-length");
    headers.delete("accept-encoding");
    const response = await fetch(`${upstream}${path}`, {
      method: request.method,
      headers,
      body: body ?? (request.method === "GET" || request.method === "HEAD" ? undefined : await request.text()),
    });
    const answer = new Headers(response.headers);
    answer.delete("content-encoding");
    answer.delete("content-length");
    return new Response(response.body, { status: response.status, headers: answer });
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const url = new URL(request.url);
    const path = url.pathname + url.search;
    if (url.pathname.endsWith("/_bulk")) await hold();
    if (!proxy.storm || !url.pathname.endsWith("/_bulk")) return await forward(request, path);
    requests++;
    const headers = { "content-type": "application/json", "x-elastic-product": "Elasticsearch" };
    const lines = (await request.text()).split("\n").filter((line) => line !== "");
    const items = lines.length / 2;
    if (requests % 3 === 0) {
      proxy.rejected += items;
      return new Response(JSON.stringify({ error: { ...TOO_MANY, root_cause: [TOO_MANY] }, status: 429 }), {
        status: 429,
        headers,
      });
    }
    const kept: string[] = [];
    for (let i = 0; i < items; i += 2) kept.push(lines[2 * i], lines[2 * i + 1]);
    const upstreamItems = kept.length === 0
      ? []
      : (await (await forward(request, path, kept.join("\n") + "\n")).json()).items as unknown[];
    const answer: unknown[] = [];
    for (let i = 0; i < items; i++) {
      if (i % 2 === 0) {
        answer.push(upstreamItems[i / 2]);
      } else {
        proxy.rejected++;
        answer.push({ index: { _index: JSON.parse(lines[2 * i]).index._index, status: 429, error: TOO_MANY } });
      }
    }
    return new Response(JSON.stringify({ took: 1, errors: true, items: answer }), { status: 200, headers });
  });
  proxy.url = `127.0.0.1:${server.addr.port}`;
  return proxy;
}
