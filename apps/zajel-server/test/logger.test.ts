import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger, logLevel, redactCode } from "../src/logger.js";

afterEach(() => vi.restoreAllMocks());

describe("logger", () => {
  it("reads LOG_LEVEL (case-insensitive), defaulting to info for unset or unknown values", () => {
    expect(logLevel({})).toBe("info");
    expect(logLevel({ LOG_LEVEL: "DEBUG" })).toBe("debug");
    expect(logLevel({ LOG_LEVEL: "warn" })).toBe("warn");
    expect(logLevel({ LOG_LEVEL: "verbose" })).toBe("info");
  });

  it("writes only lines at or above the level, with level and scope", () => {
    const lines: unknown[][] = [];
    for (const method of ["debug", "info", "warn", "error"] as const) vi.spyOn(console, method).mockImplementation((...args) => void lines.push([method, ...args]));
    const log = createLogger({ LOG_LEVEL: "warn" }, "gateway");
    log.debug("d");
    log.info("i");
    log.warn("w", { socket: "s1" });
    log.error("e");
    expect(lines).toEqual([
      ["warn", "[warn] gateway: w", '{"socket":"s1"}'],
      ["error", "[error] gateway: e"],
    ]);
  });

  it("redacts pairing codes to their first and last character unless DEV_MODE=true", () => {
    expect(redactCode("ABC234")).toBe("A****4");
    expect(redactCode("AB")).toBe("**");
    expect(createLogger({}, "x").code("XK7P2Q")).toBe("X****Q");
    expect(createLogger({ DEV_MODE: "false" }, "x").code("XK7P2Q")).toBe("X****Q");
    expect(createLogger({ DEV_MODE: "true" }, "x").code("XK7P2Q")).toBe("XK7P2Q");
    expect(createLogger({}, "x").code(undefined)).toBe("-");
  });
});
