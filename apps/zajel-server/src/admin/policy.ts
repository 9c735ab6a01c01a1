/** The version policy (§4.3.1): its shape, validation of writes, and the policy check. */
import { z } from "zod";
import { HttpError } from "../http/errors.js";

export interface VersionPolicy {
  minimum_version: string;
  recommended_version: string;
  blocked_versions: string[];
  sunset_dates: Record<string, string>;
}

export const DEFAULT_POLICY: VersionPolicy = {
  minimum_version: "1.0.0",
  recommended_version: "1.0.0",
  blocked_versions: [],
  sunset_dates: {},
};

export const SEMVER = /^\d+\.\d+\.\d+$/;

/** Numeric comparison of two `X.Y.Z` versions. */
export function compareVersions(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** The outcome of checking a version against the policy. */
export type PolicyVerdict = { allowed: false; reason: string } | { allowed: true; status: "current" | "update_recommended" };

export function checkVersion(policy: VersionPolicy, v: string): PolicyVerdict {
  if (policy.blocked_versions.includes(v)) return { allowed: false, reason: `Version ${v} has been blocked` };
  if (!SEMVER.test(v)) return { allowed: false, reason: `Invalid version format: ${v}` };
  if (compareVersions(v, policy.minimum_version) < 0) {
    return { allowed: false, reason: `Version ${v} is below minimum required version ${policy.minimum_version}` };
  }
  if (compareVersions(v, policy.recommended_version) < 0) return { allowed: true, status: "update_recommended" };
  return { allowed: true, status: "current" };
}

/** `undefined`, `null` and `""` count as omitted: the field takes its default. */
const omitted = (value: unknown) => value === undefined || value === null || value === "";

/** Each writable field: its schema and the exact error of §4.3.7 when a given value fails it. */
const FIELDS = {
  minimum_version: [z.string().regex(SEMVER), "Invalid minimum_version format (expected X.Y.Z)"],
  recommended_version: [z.string().regex(SEMVER), "Invalid recommended_version format (expected X.Y.Z)"],
  blocked_versions: [z.array(z.string()), "Invalid blocked_versions (expected array of strings)"],
  sunset_dates: [z.record(z.string(), z.string()), "Invalid sunset_dates (expected object of strings)"],
} as const;

/** The policy a `POST /attest/versions` body replaces the current one with (§4.3.7). */
export function policyFromBody(body: Record<string, unknown>): VersionPolicy {
  const policy: Record<string, unknown> = { ...DEFAULT_POLICY, blocked_versions: [], sunset_dates: {} };
  for (const [name, [schema, error]] of Object.entries(FIELDS)) {
    const value = body[name];
    if (omitted(value)) continue;
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw HttpError.of(400, error);
    policy[name] = parsed.data;
  }
  return policy as unknown as VersionPolicy;
}
