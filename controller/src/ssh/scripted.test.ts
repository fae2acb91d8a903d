import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SSHTarget } from "./executor.js";
import { SSHError } from "./executor.js";
import { ScriptedDialer } from "./scripted.js";

const target = {} as SSHTarget;

describe("ScriptedDialer (a scripted host for unit tests)", () => {
  it("answers with the first matching rule's lines and code, line by line; an unknown command exits 127", async () => {
    const d = new ScriptedDialer([
      { match: /^hostname/, reply: { lines: ["node-1", "none"] } },
      { match: /^false/, reply: { code: 1 } },
    ]);
    const c = await d.dial(target);
    const seen: string[] = [];
    const r = await c.exec("hostname; probe", { onLine: (l) => seen.push(l) });
    assert.deepEqual([r.code, r.stdout, seen], [0, "node-1\nnone\n", ["node-1", "none"]]);
    assert.equal((await c.exec("false")).code, 1);
    assert.equal((await c.exec("whoami")).code, 127);
    assert.deepEqual(d.commands, ["hostname; probe", "false", "whoami"]);
  });

  it("answers only after stdin ended, and a reply function sees the world as it is then", async () => {
    let state = "before";
    const d = new ScriptedDialer([{ match: /run/, reply: () => ({ lines: [state] }) }]);
    const c = await d.dial(target);
    let finish = (_: string) => {};
    const stdinLast = new Promise<string>((r) => {
      finish = r;
    });
    const pending = c.exec("run", { stdinLast });
    state = "after";
    finish("go\n");
    assert.equal((await pending).stdout, "after\n");
  });

  it("a waiting command ends as cancelled on abort, and as a lost connection when the link drops", async () => {
    const never = new Promise<void>(() => {});
    const d = new ScriptedDialer([
      { match: /wait/, reply: { until: never } },
      { match: /drop/, reply: { drop: true } },
    ]);
    const c = await d.dial(target);
    const abort = new AbortController();
    const waiting = c.exec("wait", { signal: abort.signal });
    abort.abort();
    await assert.rejects(waiting, (e) => e instanceof SSHError && e.reason === "Cancelled");
    const c2 = await d.dial(target);
    const cut = c2.exec("wait");
    d.dropAll();
    await assert.rejects(cut, (e) => e instanceof SSHError && e.reason === "ConnectionLost");
    const c3 = await d.dial(target);
    await assert.rejects(c3.exec("drop"), (e) => e instanceof SSHError && e.reason === "ConnectionLost");
    await assert.rejects(c3.exec("anything"), (e) => e instanceof SSHError && e.reason === "ConnectionLost");
    d.dialError = new SSHError("HostUnreachable", "no route");
    await assert.rejects(d.dial(target), (e) => e instanceof SSHError && e.reason === "HostUnreachable");
    assert.equal(d.dials, 4);
  });
});
