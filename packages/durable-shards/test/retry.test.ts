import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { OverloadedError, backoffDelay, errorResponse, isRetryable, withRetry } from "../src/index.js";
import { rejection, uniqueName } from "./helpers.js";

describe("withRetry against a real object", () => {
  it("retries a retryable error with a new stub for every attempt", async () => {
    const name = uniqueName("flaky");
    await env.FLAKY.getByName(name).configure(2, { retryable: true });
    const stubs: unknown[] = [];
    const result = await withRetry(
      () => {
        const stub = env.FLAKY.getByName(name);
        stubs.push(stub);
        return stub;
      },
      (stub) => stub.work(),
      { maxAttempts: 3, baseDelayMs: 1 },
    );
    expect(result.calls).toBe(3);
    expect(stubs).toHaveLength(3);
    expect(new Set(stubs).size).toBe(3);
  });

  it("does not retry an overloaded error, even one also marked retryable, and types it", async () => {
    const name = uniqueName("flaky");
    await env.FLAKY.getByName(name).configure(1, { retryable: true, overloaded: true });
    let stubs = 0;
    const error = await rejection(
      withRetry(
        () => {
          stubs++;
          return env.FLAKY.getByName(name);
        },
        (stub) => stub.work(),
        { maxAttempts: 5, baseDelayMs: 1 },
      ),
    );
    expect(error).toBeInstanceOf(OverloadedError);
    expect(stubs).toBe(1);
    expect(await env.FLAKY.getByName(name).callCount()).toBe(1);
    const response = errorResponse(error)!;
    expect(response.status).toBe(503);
    expect(response.headers.get("Retry-After")).toBe("1");
  });

  it("does not retry errors without the retryable flag, and gives up after maxAttempts", async () => {
    const plain = uniqueName("flaky");
    await env.FLAKY.getByName(plain).configure(1, {});
    let attempts = 0;
    await rejection(withRetry(() => env.FLAKY.getByName(plain), (s) => (attempts++, s.work()), { baseDelayMs: 1 }));
    expect(attempts).toBe(1);

    const stubborn = uniqueName("flaky");
    await env.FLAKY.getByName(stubborn).configure(10, { retryable: true });
    attempts = 0;
    const error = await rejection(withRetry(() => env.FLAKY.getByName(stubborn), (s) => (attempts++, s.work()), { maxAttempts: 4, baseDelayMs: 1 }));
    expect(attempts).toBe(4);
    expect(isRetryable(error)).toBe(true);
  });
});

describe("backoffDelay", () => {
  it("is jittered and exponential up to the cap", () => {
    expect(backoffDelay(1, { random: () => 0.999, baseDelayMs: 100 })).toBe(99);
    expect(backoffDelay(3, { random: () => 0.5, baseDelayMs: 100 })).toBe(200);
    expect(backoffDelay(20, { random: () => 0.999, baseDelayMs: 100, maxDelayMs: 1000 })).toBe(999);
    expect(backoffDelay(2, { random: () => 0 })).toBe(0);
  });
});

describe("retry options", () => {
  it("rejects bad options with typed errors before any attempt", async () => {
    let attempts = 0;
    for (const options of [{ maxAttempts: 0 }, { maxAttempts: 1.5 }, { baseDelayMs: -1 }, { random: 3 }, { nope: true }]) {
      await expect(withRetry(() => null, async () => void attempts++, options as never)).rejects.toThrow(/\[InvalidArgument\] retry options/);
    }
    expect(attempts).toBe(0);
  });
});
