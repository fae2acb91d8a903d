import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputFeed } from "./executor.js";

async function drain(feed: InputFeed): Promise<string[]> {
  const out: string[] = [];
  for await (const c of feed) out.push(c);
  return out;
}

describe("InputFeed", () => {
  it("yields what was pushed before and after the reader came, in order, until end", async () => {
    const feed = new InputFeed();
    feed.push("a");
    const read = drain(feed);
    await new Promise((r) => setTimeout(r, 10));
    feed.push("b");
    feed.push("c");
    feed.end();
    feed.push("ignored after end");
    assert.deepEqual(await read, ["a", "b", "c"]);
  });

  it("throws the failure to the reader after what was pushed (also a falsy one)", async () => {
    const feed = new InputFeed();
    feed.push("a");
    feed.fail(undefined);
    const out: string[] = [];
    await assert.rejects(async () => {
      for await (const c of feed) out.push(c);
    });
    assert.deepEqual(out, ["a"]);
  });
});
