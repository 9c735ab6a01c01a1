/** The info endpoints of the protocol (§4.1). */
import { Hono } from "hono";
import type { Env } from "./env.js";

export const info = new Hono<{ Bindings: Env }>();

// `/health` answers any method, as the reference does.
info.all("/health", (c) => c.json({ status: "ok", service: "zajel-bootstrap", timestamp: new Date().toISOString() }));
