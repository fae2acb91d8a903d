/**
 * A workload cluster's API server is whatever the tenant's kubeconfig Secret names. These tests
 * run the real client (KubeApi, the Informer) against real HTTP servers on loopback that answer
 * as an attacker would: without end, in one endless line, a byte at a time, with endless pages.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { Informer } from "../runtime/informer.js";
import { makeLogger } from "../runtime/log.js";
import { type Node, projectNode, WORKLOAD_NODES } from "../workload/nodes.js";
import { ApiError, KubeApi, R, type ResponseLimits, ResponseTooLarge } from "./api.js";

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) s.close();
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** A server whose lists are empty and whose watches `onWatch` answers. */
const emptyListThen = (onWatch: (res: ServerResponse) => void) =>
  serve((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    if (req.url?.includes("watch=true")) onWatch(res);
    else res.end(JSON.stringify({ metadata: { resourceVersion: "1" }, items: [] }));
  });

function client(server: string, limits: ResponseLimits): KubeApi {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // Plain HTTP on loopback (client-node allows it only with skipTLSVerify); the limits are the
    // same for HTTPS, which the workload kubeconfig check requires.
    clusters: [{ name: "w", server, skipTLSVerify: true }],
    users: [{ name: "u" }],
    contexts: [{ name: "c", cluster: "w", user: "u" }],
    currentContext: "c",
  });
  return new KubeApi(kc, {}, limits);
}

const LIMITS: ResponseLimits = { bodyBytes: 4 * 1024 * 1024, eventBytes: 256 * 1024, requestMs: 3_000 };
const chunk = Buffer.alloc(64 * 1024, "a");
const quiet = makeLogger({ level: "error" });

/** Writes `chunk` until the client goes away; how many bytes went out. */
function flood(res: ServerResponse, prefix = ""): { sent: () => number } {
  let sent = 0;
  res.writeHead(200, { "content-type": "application/json" });
  res.write(prefix);
  const pump = () => {
    while (!res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) break;
    }
    if (!res.destroyed) res.once("drain", pump);
  };
  pump();
  return { sent: () => sent };
}

describe("the API client against a hostile server", () => {
  it("cuts off an answer over bodyBytes instead of buffering it", async () => {
    let sent = () => 0;
    const url = await serve((_req, res) => {
      sent = flood(res, '{"items":["').sent;
    });
    const rss0 = process.memoryUsage().rss;
    const t0 = Date.now();
    await assert.rejects(client(url, LIMITS).list(R.nodes), ResponseTooLarge);
    const grew = (process.memoryUsage().rss - rss0) / 1024 / 1024;
    console.log(
      `# endless body: cut off after ${Date.now() - t0} ms, server sent ${sent() >> 20} MiB, RSS +${grew.toFixed(1)} MiB`,
    );
    assert.ok(grew < 64, `RSS grew ${grew.toFixed(1)} MiB`);
  });

  it("ends an answer trickled a byte at a time at requestMs, though the socket is never silent", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(" ")), 100);
    });
    const t0 = Date.now();
    await assert.rejects(client(url, LIMITS).list(R.nodes), /not answered in full within 3000 ms/);
    const took = Date.now() - t0;
    assert.ok(took >= 3_000 && took < 10_000, `took ${took} ms`);
  });

  it("refuses a watch event over eventBytes (an endless line) and delivers the events before it", async () => {
    const url = await serve((_req, res) => {
      flood(
        res,
        `${JSON.stringify({ type: "ADDED", object: { metadata: { name: "n1" } } })}\n{"type":"ADDED","object":"`,
      );
    });
    const seen: string[] = [];
    const ac = new AbortController();
    await assert.rejects(
      client(url, LIMITS).watch(
        "/api/v1/nodes",
        new URLSearchParams(),
        (t, o) => seen.push(`${t} ${(o as Node).metadata.name}`),
        ac.signal,
      ),
      ResponseTooLarge,
    );
    assert.deepEqual(seen, ["ADDED n1"]);
  });

  it("a watch answered with an error status rejects with the server's status; an abort ends it quietly", async () => {
    const url = await serve((req, res) => {
      if (req.url?.includes("nodes")) {
        res.writeHead(403, { "content-type": "application/json" });
        res.end(JSON.stringify({ kind: "Status", message: "nodes is forbidden", reason: "Forbidden" }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.write("\n");
    });
    const api = client(url, LIMITS);
    const err = await api
      .watch("/api/v1/nodes", new URLSearchParams(), () => {}, new AbortController().signal)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 403);
    assert.equal(err.message, "nodes is forbidden");
    const ac = new AbortController();
    const open = api.watch("/api/v1/pods", new URLSearchParams(), () => {}, ac.signal);
    setTimeout(() => ac.abort(), 200);
    await open;
  });
});

describe("the Informer against a hostile server", () => {
  it("a watch that hangs up at once, or says 410 at once, is retried with backoff, not in a tight loop", async () => {
    for (const how of ["hang up", "410"] as const) {
      let watches = 0;
      const url = await emptyListThen((res) => {
        watches++;
        if (how === "410")
          res.end(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, message: "too old" } })}\n`);
        else res.socket?.destroy();
      });
      const inf = new Informer<Node>(client(url, LIMITS), R.nodes, quiet);
      inf.start();
      await new Promise((r) => setTimeout(r, 2_500));
      inf.stop();
      // Backoff 1 s, then 2 s (jittered +-20%): at most 3 watches in 2.5 s; a tight loop makes hundreds.
      assert.ok(watches >= 1 && watches <= 3, `${how}: ${watches} watches in 2.5 s`);
    }
  });

  it("bookmarks (a resourceVersion and no name) move the watch on and never end it", async () => {
    let watches = 0;
    let lists = 0;
    const url = await serve((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      if (!req.url?.includes("watch=true")) {
        lists++;
        res.end(JSON.stringify({ metadata: { resourceVersion: "1" }, items: [] }));
        return;
      }
      watches++;
      const bookmark = (rv: number) =>
        `${JSON.stringify({ type: "BOOKMARK", object: { kind: "Node", metadata: { resourceVersion: String(rv) } } })}\n`;
      res.write(bookmark(5));
      setTimeout(() => res.write(bookmark(9)), 300);
    });
    const inf = new Informer<Node>(client(url, LIMITS), R.nodes, quiet);
    inf.start();
    await new Promise((r) => setTimeout(r, 1_500));
    inf.stop();
    assert.equal(lists, 1, "listed once");
    assert.equal(watches, 1, "one watch, still open");
    assert.equal(inf.restarts, 0);
  });

  it("a watch whose connection drops mid-stream settles, and the informer watches again", async () => {
    let watches = 0;
    const url = await emptyListThen((res) => {
      watches++;
      res.write(
        `${JSON.stringify({ type: "ADDED", object: { metadata: { name: `n${watches}`, resourceVersion: "2" } } })}\n`,
      );
      // The connection drops after a while, as when the API server restarts.
      setTimeout(() => res.socket?.destroy(), 1_200);
    });
    const added: string[] = [];
    const inf = new Informer<Node>(client(url, LIMITS), R.nodes, quiet).on({
      onAdd: (n) => added.push(n.metadata.name),
    });
    inf.start();
    const end = Date.now() + 20_000; // ends as soon as the second watch comes; room for a loaded machine
    while (watches < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    inf.stop();
    assert.ok(watches >= 2, `watched ${watches} times`);
    assert.deepEqual(added.slice(0, 2), ["n1", "n2"], "each watch's event was applied");
  });

  it("stops a list of endless pages at maxItems and keeps nothing of it", async () => {
    let pages = 0;
    const url = await serve((_req, res) => {
      pages++;
      const items = Array.from({ length: 100 }, (_, i) => ({ metadata: { name: `n${pages}-${i}` } }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ metadata: { continue: `page-${pages}`, resourceVersion: "1" }, items }));
    });
    const lines: string[] = [];
    const log = makeLogger({ level: "warn", write: (l) => lines.push(l) });
    const inf = new Informer<Node>(client(url, LIMITS), R.nodes, log, { pageSize: 100, maxItems: 1_000 });
    inf.start();
    await new Promise((r) => setTimeout(r, 500));
    inf.stop();
    assert.ok(inf.restarts >= 1, "the list failed");
    assert.match(lines.join("\n"), /more than 1000 nodes; the informer holds at most 1000/);
    assert.ok(pages >= 11 && pages <= 11 * (inf.restarts + 1), `${pages} pages read in ${inf.restarts + 1} lists`);
    assert.equal(inf.size, 0, "nothing of the refused list is held");
  });

  it("stops a watch that brings more than maxItems objects", async () => {
    const url = await emptyListThen((res) => {
      for (let i = 0; i < 2_000 && !res.destroyed; i++)
        res.write(`${JSON.stringify({ type: "ADDED", object: { metadata: { name: `w${i}` } } })}\n`);
    });
    const lines: string[] = [];
    const log = makeLogger({ level: "warn", write: (l) => lines.push(l) });
    const inf = new Informer<Node>(client(url, LIMITS), R.nodes, log, { maxItems: 1_000 });
    inf.start();
    await inf.synced;
    const end = Date.now() + 5_000;
    while (inf.restarts === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    inf.stop();
    assert.match(lines.join("\n"), /more than 1000 nodes/);
    assert.ok(inf.size <= 1_000, `${inf.size} held`);
  });

  it("keeps of each Node only what matching reads, bounded", () => {
    const big = "x".repeat(100_000);
    const n = projectNode({
      metadata: { name: "w1", uid: "u1", labels: { big }, resourceVersion: "7" },
      spec: { providerID: big },
      status: { addresses: Array.from({ length: 1000 }, () => ({ type: "InternalIP", address: big })) },
      // What a kubelet reports and nothing here reads.
      ...{ images: [{ names: [big] }] },
    } as Node);
    assert.equal(n.metadata.labels, undefined);
    assert.equal(n.spec?.providerID?.length, 512);
    assert.equal(n.status?.addresses?.length, WORKLOAD_NODES.maxAddresses);
    assert.ok(JSON.stringify(n).length < 10_000, `${JSON.stringify(n).length} bytes`);
  });
});
