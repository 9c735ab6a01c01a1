import { describe, expect, it } from "vitest";
import { readJsonObject } from "../../src/http/body.js";
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
