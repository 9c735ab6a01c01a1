// End to end: requests refused before their body is read (401 without a token, 413 oversize), sent
// chunked and slowly as real clients may, against the server started as the README says. The local
// runtime restarts a worker that answers without reading or cancelling the body, and the caller
// then gets `503 Your worker restarted mid-request`; none may.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "./server.js";

let server: RunningServer;

beforeAll(async () => {
  server = await startServer();
}, 100_000);
afterAll(() => server?.stop(), 20_000);

interface Answer {
  status: number;
  body: string;
}

/** POSTs `size` bytes of JSON-ish text to `path` with `Transfer-Encoding: chunked`, 4 KiB at a time. */
function postChunked(path: string, size: number, ip: string): Promise<Answer> {
  return new Promise((resolve) => {
    const url = new URL(path, server.base);
    const req = request(url, { method: "POST", headers: { "Content-Type": "application/json", "Transfer-Encoding": "chunked", "CF-Connecting-IP": ip } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      // A connection cut while the answer streams is a failure too, shown as status 0.
      res.on("error", (error) => resolve({ status: 0, body: `${res.statusCode} then ${String(error)}` }));
    });
    // The server may stop reading once it answered; the answer is what counts.
    req.on("error", (error) => resolve({ status: 0, body: String(error) }));
    let sent = 0;
    const chunk = `{"pad":"${"x".repeat(4096 - 10)}"}`;
    const more = () => {
      if (sent >= size || req.destroyed) return void req.end();
      sent += chunk.length;
      req.write(chunk, () => setTimeout(more, 2));
    };
    more();
  });
}

describe("early refusals", () => {
  it("answer 20 chunked requests refused before their body is read, none with 503 worker restarted", async () => {
    const answers: Answer[] = [];
    for (let i = 0; i < 10; i++) {
      // No Authorization: 401 from the registry's auth check, before the body is read.
      answers.push(await postChunked("/servers/heartbeat", 64 * 1024, `192.0.2.${i + 1}`));
      // Over the 2,048-byte limit of /attest/challenge: 413 once the limit is passed.
      answers.push(await postChunked("/attest/challenge", 64 * 1024, `198.51.100.${i + 1}`));
    }
    const restarted = answers.filter((a) => a.status === 503 || /restarted mid-request/i.test(a.body));
    expect(restarted, JSON.stringify(answers.map((a) => `${a.status} ${a.body.slice(0, 80)}`))).toEqual([]);
    expect(answers.map((a) => a.status), JSON.stringify(answers.map((a) => `${a.status} ${a.body.slice(0, 80)}`))).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 401 : 413)));
    expect(JSON.parse(answers[0]!.body)).toEqual({ error: "Unauthorized" });
    expect(JSON.parse(answers[1]!.body)).toEqual({ error: "Request body too large" });
  }, 60_000);
});
