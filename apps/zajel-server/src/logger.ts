/**
 * An environment-aware logger: levels from `LOG_LEVEL` (`debug`/`info`/`warn`/`error`, default
 * `info`), and pairing codes redacted to their first and last character unless `DEV_MODE=true`,
 * as operators of the reference server expect.
 */
import type { Env } from "./env.js";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A pairing code as it may appear in logs of this environment. */
  code(code: string | undefined): string;
}

/** `A****4` for `ABC234`; codes of one or two characters become `**`. */
export function redactCode(code: string): string {
  return code.length <= 2 ? "**" : `${code[0]}${"*".repeat(code.length - 2)}${code[code.length - 1]}`;
}

export function logLevel(env: Pick<Env, "LOG_LEVEL">): LogLevel {
  const value = env.LOG_LEVEL?.toLowerCase();
  return value !== undefined && value in LEVELS ? (value as LogLevel) : "info";
}

/** A logger for `env`; `scope` prefixes every line (e.g. `gateway`). */
export function createLogger(env: Pick<Env, "LOG_LEVEL" | "DEV_MODE">, scope: string): Logger {
  const threshold = LEVELS[logLevel(env)];
  const dev = env.DEV_MODE === "true";
  const write = (level: LogLevel, sink: (...data: unknown[]) => void) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < threshold) return;
    sink(`[${level}] ${scope}: ${message}`, ...(fields ? [JSON.stringify(fields)] : []));
  };
  return {
    debug: write("debug", console.debug),
    info: write("info", console.info),
    warn: write("warn", console.warn),
    error: write("error", console.error),
    code: (code) => (code === undefined ? "-" : dev ? code : redactCode(code)),
  };
}
