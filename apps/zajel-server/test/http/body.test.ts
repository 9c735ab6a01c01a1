import { describe, expect, it } from "vitest";
import { discardBody, readJsonObject } from "../../src/http/body.js";
import { HttpError } from "../../src/http/errors.js";

async function failure(request: Request, limit = 64): Promise<{ status: number; body: unknown }> {
  try {
    await readJsonObject(request, limit);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return { status: error.response.status, body: await error.response.json() };
  }
  throw new Error("expected a failure");
}

const post = (body: BodyInit, headers?: HeadersInit) => new Request("https://x.test/", { method: "POST", body, headers });

describe("readJsonObject (§3.2, §3.4)", () => {
  it("parses JSON objects whatever Content-Type says", async () => {
    expect(await readJsonObject(post('{"a":1}', { "Content-Type": "text/plain" }), 64)).toEqual({ a: 1 });
  });

  it("answers 400 Invalid JSON body for anything that is not a JSON object", async () => {
    for (const body of ["", "nope", "[1,2]", "null", "42", '"text"', "{", new Uint8Array([0x7b, 0xff, 0x7d])]) {
      expect(await failure(post(body))).toEqual({ status: 400, body: { error: "Invalid JSON body" } });
    }
  });

  it("answers 413 by Content-Length before reading, and by the bytes actually received", async () => {
    expect(await failure(post("{}", { "Content-Length": "65" }))).toEqual({ status: 413, body: { error: "Request body too large" } });
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`{"a":"${"x".repeat(100)}"}`));
        controller.close();
      },
    });
    expect(await failure(new Request("https://x.test/", { method: "POST", body: stream }))).toEqual({
      status: 413,
      body: { error: "Request body too large" },
    });
    expect(await readJsonObject(post(`{"a":"${"x".repeat(56)}"}`), 64)).toEqual({ a: "x".repeat(56) });
  });
});

/** A streamed body of `chunks` chunks of 1 KiB that records how many were pulled and whether it was cancelled. */
function countedBody(chunks: number) {
  const seen = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.pulled === chunks) return controller.close();
      seen.pulled++;
      controller.enqueue(new Uint8Array(1024));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { request: new Request("https://x.test/", { method: "POST", body: stream }), seen };
}

describe("discardBody (early answers)", () => {
  it("reads an unread body to its end, also after readJsonObject stopped at its limit", async () => {
    const unread = countedBody(40);
    await discardBody(unread.request);
    expect(unread.seen).toEqual({ pulled: 40, cancelled: false });

    const oversize = countedBody(40);
    expect(await failure(oversize.request, 2048)).toEqual({ status: 413, body: { error: "Request body too large" } });
    await discardBody(oversize.request);
    expect(oversize.seen).toEqual({ pulled: 40, cancelled: false });
  });

  it("cancels a body past 1 MiB instead of reading on, and leaves a read body alone", async () => {
    const huge = countedBody(4096);
    await discardBody(huge.request);
    expect(huge.seen.cancelled).toBe(true);
    expect(huge.seen.pulled).toBeLessThan(1100);

    const read = post('{"a":1}');
    await readJsonObject(read, 64);
    await discardBody(read);
    expect(read.bodyUsed).toBe(true);
  });
});
