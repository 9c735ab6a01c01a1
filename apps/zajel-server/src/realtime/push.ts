/**
 * Pushes to sockets on any gateway. A socket is addressed by its holder (gateway name + socket
 * tag); frames for many sockets are grouped so each gateway gets one RPC per batch (docs/architecture.md §4).
 */
import type { Env } from "../env.js";

/** Where a socket lives. */
export interface Holder {
  gateway: string;
  socket: string;
}

/** Frames per socket tag, for one gateway. */
export type GatewayBatch = [socket: string, frames: string[]][];

export function sameHolder(a: Holder, b: Holder): boolean {
  return a.gateway === b.gateway && a.socket === b.socket;
}

/** Whether the socket at `holder` is still open on its gateway. */
export function socketIsOpen(env: Env, holder: Holder): Promise<boolean> {
  return env.GATEWAY.getByName(holder.gateway).isOpen(holder.socket);
}

/** Delivers batches to gateways; the local gateway may short-cut the RPC to itself. */
export type BatchSender = (gateway: string, batch: GatewayBatch) => Promise<number>;

/** The default sender: one RPC to the gateway. Returns how many sockets were reached. */
export function rpcSender(env: Env): BatchSender {
  return (gateway, batch) => env.GATEWAY.getByName(gateway).deliverBatch(batch);
}

/** Sends one frame to one socket on whichever gateway holds it; false when the socket is gone. */
export async function deliver(env: Env, to: Holder, frame: unknown): Promise<boolean> {
  return (await rpcSender(env)(to.gateway, [[to.socket, [typeof frame === "string" ? frame : JSON.stringify(frame)]]])) > 0;
}

/** Collects pushes and sends them with one call per gateway. */
export class Outbox {
  private readonly gateways = new Map<string, Map<string, string[]>>();

  constructor(private readonly send: BatchSender) {}

  /** Queues `frame` for the socket at `to`. Frames to one socket keep their order. */
  add(to: Holder, frame: unknown): this {
    const text = typeof frame === "string" ? frame : JSON.stringify(frame);
    let sockets = this.gateways.get(to.gateway);
    if (!sockets) this.gateways.set(to.gateway, (sockets = new Map()));
    const frames = sockets.get(to.socket);
    if (frames) frames.push(text);
    else sockets.set(to.socket, [text]);
    return this;
  }

  /** Sends everything queued; returns how many sockets were reached (a gateway that fails counts 0). */
  async flush(): Promise<number> {
    const batches = [...this.gateways].map(([gateway, sockets]): [string, GatewayBatch] => [gateway, [...sockets]]);
    this.gateways.clear();
    const reached = await Promise.all(
      batches.map(([gateway, batch]) =>
        this.send(gateway, batch).catch((error: unknown) => {
          console.warn("push: gateway unreachable", gateway, String(error));
          return 0;
        }),
      ),
    );
    return reached.reduce((a, b) => a + b, 0);
  }
}
