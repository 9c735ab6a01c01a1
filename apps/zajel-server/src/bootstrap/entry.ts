/** ServerEntry (§4.2.1) and the validation of registration fields (§4.2.4). */
import { z } from "zod";

/** One registered relay server, serialized with exactly these keys in this order. */
export interface ServerEntry {
  serverId: string;
  endpoint: string;
  publicKey: string;
  region: string;
  connections: number;
  relayConnections: number;
  signalingConnections: number;
  activeCodes: number;
  buildVerified: boolean;
  buildHash: string | null;
  buildVersion: string | null;
  registeredAt: number;
  lastSeen: number;
}

/** An entry is live while `now − lastSeen` is below this. */
export const LIVE_MS = 300_000;
export const MAX_SERVERS = 1000;

export const serverIdSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9_:.+/=-]+$/);
const regionSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/);
const metricSchema = z.number().finite();

export const METRICS = ["connections", "relayConnections", "signalingConnections", "activeCodes"] as const;
export type Metrics = Record<(typeof METRICS)[number], number>;

/** The entry in its exact key order (also drops anything that is not part of the wire shape). */
export function serializeEntry(e: ServerEntry): ServerEntry {
  return {
    serverId: e.serverId,
    endpoint: e.endpoint,
    publicKey: e.publicKey,
    region: e.region,
    connections: e.connections,
    relayConnections: e.relayConnections,
    signalingConnections: e.signalingConnections,
    activeCodes: e.activeCodes,
    buildVerified: e.buildVerified,
    buildHash: e.buildHash,
    buildVersion: e.buildVersion,
    registeredAt: e.registeredAt,
    lastSeen: e.lastSeen,
  };
}

/** A region as given when valid, else `"unknown"`. */
export function normalizeRegion(value: unknown): string {
  return regionSchema.safeParse(value).success ? (value as string) : "unknown";
}

/** A metric floored and clamped to ≥ 0, or `undefined` when not a finite number. */
export function metric(value: unknown): number | undefined {
  return metricSchema.safeParse(value).success ? Math.max(0, Math.floor(value as number)) : undefined;
}

/** Metrics of a registration: every metric, 0 when absent or invalid. */
export function registrationMetrics(body: Record<string, unknown>): Metrics {
  return Object.fromEntries(METRICS.map((m) => [m, metric(body[m]) ?? 0])) as Metrics;
}

/** Metrics of a heartbeat: only those present and finite. */
export function heartbeatMetrics(body: Record<string, unknown>): Partial<Metrics> {
  return Object.fromEntries(METRICS.flatMap((m) => (metric(body[m]) === undefined ? [] : [[m, metric(body[m])]]))) as Partial<Metrics>;
}

const PRIVATE_HOST = /^(?:localhost|127\.0\.0\.1|0\.0\.0\.0|::1|\[::1\]|10\.|172\.(?:1[6-9]|2\d|3[01])\.|192\.168\.|169\.254\.|fc00:|fd[0-9a-f]{2}:)/i;

/** The first failing endpoint check of §4.2.4 (steps 4–7), or `undefined` when it passes. */
export function endpointError(endpoint: string, devMode: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return "Invalid endpoint: must be a valid URL";
  }
  if (!devMode && url.protocol !== "https:" && url.protocol !== "wss:") return "Invalid endpoint: must use HTTPS or WSS protocol";
  if (!devMode && PRIVATE_HOST.test(url.hostname)) return "Invalid endpoint: must not point to private or internal addresses";
  if (endpoint.length > 2048) return "Invalid endpoint: URL too long (max 2048 characters)";
  return undefined;
}
