/**
 * Releasing what a closed socket held (§7.1.7), one step per kind of name, each step on its own.
 */
import type { Logger } from "../logger.js";
import { releaseChannels } from "./channels.js";
import { releaseChunks } from "./chunks.js";
import { connectionCounter } from "./connections.js";
import { releaseCode } from "./pairing.js";
import { releaseRelay } from "./relays.js";
import { releaseRendezvous } from "./rendezvous.js";
import type { SocketContext } from "./socket.js";

/** A named step of a release. */
export type ReleaseStep = [name: string, run: () => unknown];

/**
 * Releases everything `ctx`'s socket held, in the order of §7.1.7: attestation, channels, code,
 * rendezvous entries, relay, chunk sources, then the per-IP count. Returns the failed steps.
 */
export function releaseSocket(ctx: SocketContext): Promise<string[]> {
  const { state } = ctx;
  const relay = state.relay;
  state.attestDevice = undefined;
  state.attestedUntil = undefined;
  return runReleaseSteps(ctx.log, state.id, [
    ["channels", () => releaseChannels(ctx)],
    ["code", () => releaseCode(ctx)],
    ["rendezvous", () => (relay ? releaseRendezvous(ctx, relay) : undefined)],
    ["relay", () => releaseRelay(ctx)],
    ["chunks", () => releaseChunks(ctx)],
    ["connections", () => connectionCounter(ctx.env, state.ip).release(ctx.holder)],
  ]);
}

/**
 * Runs `steps` in order. A step that throws (a shard that stayed unreachable through its retries)
 * is logged, and the later steps still run: one failure must not leave the socket's other names
 * claimed. What a failed step held is not lost for good, because every claim checks a holder's
 * gateway before refusing (`isOpen`), relays go unlisted after 90 s, and entries expire.
 */
export async function runReleaseSteps(log: Logger, socket: string, steps: ReleaseStep[]): Promise<string[]> {
  const failed: string[] = [];
  for (const [name, run] of steps) {
    try {
      await run();
    } catch (error) {
      failed.push(name);
      log.warn("release step failed; later claims take over what it held", { socket, step: name, error: String(error) });
    }
  }
  return failed;
}
