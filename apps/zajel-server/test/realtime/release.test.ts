import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../../src/logger.js";
import { runReleaseSteps } from "../../src/realtime/release.js";

afterEach(() => vi.restoreAllMocks());

describe("release steps", () => {
  it("run in order; a failing step is logged with its socket and error, and the later steps still run", async () => {
    const warnings: unknown[][] = [];
    vi.spyOn(console, "warn").mockImplementation((...args) => void warnings.push(args));
    const ran: string[] = [];
    const failed = await runReleaseSteps(createLogger({ LOG_LEVEL: "warn" }, "gateway"), "sock-1", [
      ["channels", () => void ran.push("channels")],
      [
        "code",
        async () => {
          ran.push("code");
          throw new Error("[Incomplete] shard s2 unreachable");
        },
      ],
      ["relay", async () => void ran.push("relay")],
      ["connections", () => void ran.push("connections")],
    ]);
    expect(ran).toEqual(["channels", "code", "relay", "connections"]);
    expect(failed).toEqual(["code"]);
    expect(warnings).toEqual([
      [
        "[warn] gateway: release step failed; later claims take over what it held",
        JSON.stringify({ socket: "sock-1", step: "code", error: "Error: [Incomplete] shard s2 unreachable" }),
      ],
    ]);
  });

  it("report nothing when every step succeeds", async () => {
    expect(await runReleaseSteps(createLogger({}, "gateway"), "s", [["a", async () => 1], ["b", () => 2]])).toEqual([]);
  });
});
