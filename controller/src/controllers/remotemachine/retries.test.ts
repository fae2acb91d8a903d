import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatRetry, inputsDigest, readRetry } from "./retries.js";

const NOW = Date.parse("2026-12-07T00:00:00Z");

describe("retry records on the object", () => {
  it("round-trips, rounding the time up to the second the annotation keeps", () => {
    const text = formatRetry({ attempts: 2, notBefore: NOW + 1500, inputs: inputsDigest("a|b") });
    assert.deepEqual(readRetry(text, NOW, 300_000), {
      attempts: 2,
      notBefore: NOW + 2000,
      inputs: inputsDigest("a|b"),
    });
    assert.deepEqual(readRetry(formatRetry({ attempts: 1, notBefore: NOW }), NOW, 10), { attempts: 1, notBefore: NOW });
  });

  it("never waits longer than the cap, whatever the text says", () => {
    const text = JSON.stringify({ attempts: 3, notBefore: "2999-01-01T00:00:00Z" });
    assert.equal(readRetry(text, NOW, 5000)?.notBefore, NOW + 5000);
  });

  const hostile: [string, string | undefined][] = [
    ["absent", undefined],
    ["not JSON", "{attempts: 1"],
    ["not an object", "3"],
    ["attempts missing", JSON.stringify({ notBefore: "2026-12-07T00:00:00Z" })],
    ["attempts not an integer", JSON.stringify({ attempts: 1.5, notBefore: "2026-12-07T00:00:00Z" })],
    ["attempts out of range", JSON.stringify({ attempts: 1e9, notBefore: "2026-12-07T00:00:00Z" })],
    ["no time", JSON.stringify({ attempts: 1 })],
    ["a time that is not one", JSON.stringify({ attempts: 1, notBefore: "tomorrow" })],
    ["too long", JSON.stringify({ attempts: 1, notBefore: "2026-12-07T00:00:00Z", pad: "x".repeat(600) })],
  ];
  for (const [what, text] of hostile)
    it(`reads ${what} as no record`, () => assert.equal(readRetry(text, NOW, 1000), undefined));

  it("drops an inputs digest that is not one of ours (the gate then opens on the next pass)", () => {
    const text = JSON.stringify({ attempts: 1, notBefore: "2026-12-07T00:00:01Z", inputs: "<script>" });
    assert.deepEqual(readRetry(text, NOW, 5000), { attempts: 1, notBefore: NOW + 1000 });
  });
});
