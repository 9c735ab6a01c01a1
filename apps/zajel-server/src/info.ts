/** The info endpoints (§4.1); each answers any method. */
import { Hono } from "hono";
import type { Env } from "./env.js";
import { json } from "./http/errors.js";

/** This server's version, reported by `/` and `/api/info`. */
export const SERVER_VERSION = "0.1.0";

const ENDPOINTS = {
  health: "GET /health",
  listServers: "GET /servers",
  registerServer: "POST /servers",
  unregisterServer: "DELETE /servers/:serverId",
  heartbeat: "POST /servers/heartbeat",
  attestRegister: "POST /attest/register",
  attestUploadReference: "POST /attest/upload-reference",
  attestChallenge: "POST /attest/challenge",
  attestVerify: "POST /attest/verify",
  attestVersions: "GET /attest/versions",
  attestSetVersions: "POST /attest/versions",
  trustedKeys: "GET|POST /servers/trusted-keys",
  websocket: "GET / (Upgrade: websocket)",
};

export const info = new Hono<{ Bindings: Env }>();

info.all("/health", () => json({ status: "ok", service: "zajel-bootstrap", timestamp: new Date().toISOString() }));

const document = () =>
  json({
    name: "Zajel Bootstrap Server",
    version: SERVER_VERSION,
    description: "VPS server discovery and attestation service",
    endpoints: ENDPOINTS,
  });
info.all("/", document);
info.all("/api/info", document);
