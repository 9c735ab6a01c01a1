/**
 * Device records and their pending challenges, sharded over slots by `device_id`
 * (keyspace `devices`; §1.1 item 5: the partition comes from the whole id, not its first
 * characters). Devices not seen for 90 days are deleted by a daily timer.
 */
import { ShardedObject, type TimerHandlers, type KeyspaceSchema } from "durable-shards";
import { toHex } from "../crypto/encoding.js";
import type { Env } from "../env.js";
import { router } from "../keyspaces.js";
import { deviceIndex } from "./device-index.js";
import { CHALLENGE_TTL_MS, DEVICE_RETENTION_MS, MAX_PENDING_CHALLENGES, serializeDevice, type DeviceRecord } from "./model.js";

const CLEANUP = "cleanup";
const CLEANUP_EVERY_MS = 5 * 60_000;
const WEB_WINDOW_MS = 3_600_000;
const MAX_WEB_REGISTRATIONS = 10;

export function deviceStore(env: Env, deviceId: string) {
  return router(env, "devices").get(deviceId);
}

export type RegisterResult = { status: "ok"; device: DeviceRecord } | { status: "web-limit" };
export type BeginChallengeResult =
  | { status: "not-registered" }
  | { status: "web" }
  | { status: "too-many" }
  | { status: "ok"; platform: string; buildVersion: string; nonce: string };

export class DeviceStore extends ShardedObject<Env> {
  protected override schema(): KeyspaceSchema {
    return {
      scope: "devices",
      migrations: [
        {
          version: 1,
          name: "devices",
          up: `CREATE TABLE devices (device_id TEXT PRIMARY KEY, slot INTEGER NOT NULL, record TEXT NOT NULL, last_seen INTEGER NOT NULL);
               CREATE TABLE pending (device_id TEXT NOT NULL, slot INTEGER NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (device_id, nonce));
               CREATE INDEX devices_slot ON devices (slot);
               CREATE INDEX pending_slot ON pending (slot)`,
        },
      ],
      slotTables: ["devices", "pending"],
    };
  }

  protected override timerHandlers(): TimerHandlers {
    return { [CLEANUP]: () => this._cleanup() };
  }

  /** Whether the device has a record. */
  exists(deviceId: string): boolean {
    return this._device(deviceId) !== undefined;
  }

  /** Writes the device record of a registration (§4.3.2 effect and row 12). */
  async register(deviceId: string, token: { version: string; platform: string; build_hash: string }): Promise<RegisterResult> {
    const now = Date.now();
    const existing = this._device(deviceId);
    let webTimes = existing?.web_registration_timestamps ?? [];
    if (token.platform === "web") {
      webTimes = [...webTimes.filter((t) => now - t < WEB_WINDOW_MS), now];
      if (webTimes.length > MAX_WEB_REGISTRATIONS) return { status: "web-limit" };
    }
    const device = serializeDevice({
      device_id: deviceId,
      build_version: token.version,
      platform: token.platform,
      build_hash: token.build_hash,
      registered_at: existing?.registered_at ?? now,
      last_seen: now,
      attestation_history: existing?.attestation_history ?? [],
      anomaly_flags: existing?.anomaly_flags ?? 0,
      web_registration_timestamps: webTimes,
    });
    this._save(device);
    await this.timers.ensure(CLEANUP, CLEANUP_EVERY_MS);
    return { status: "ok", device };
  }

  /**
   * Rows 4–6 of §4.3.4: the device must exist and not be `web`; its history is updated (also when
   * a later row fails); at most 5 unexpired challenges. On success a nonce is reserved for it.
   */
  async beginChallenge(deviceId: string): Promise<BeginChallengeResult> {
    const now = Date.now();
    const device = this._device(deviceId);
    if (!device) return { status: "not-registered" };
    if (device.platform === "web") return { status: "web" };
    const history = [...device.attestation_history, now].slice(-20);
    const recent = history.filter((t) => now - t < 5 * 60_000).length;
    this._save({ ...device, attestation_history: history, anomaly_flags: device.anomaly_flags + (recent > 10 ? 1 : 0), last_seen: now });
    const pending = this.ctx.storage.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM pending WHERE device_id = ? AND expires_at > ?", deviceId, now)
      .one().n;
    if (pending >= MAX_PENDING_CHALLENGES) return { status: "too-many" };
    const nonce = toHex(crypto.getRandomValues(new Uint8Array(32)));
    this.ctx.storage.sql.exec(
      "INSERT INTO pending (device_id, slot, nonce, expires_at) VALUES (?, ?, ?, ?)",
      deviceId,
      this.slotOf(deviceId),
      nonce,
      now + CHALLENGE_TTL_MS,
    );
    await this.timers.ensure(CLEANUP, CLEANUP_EVERY_MS);
    return { status: "ok", platform: device.platform, buildVersion: device.build_version, nonce };
  }

  /** Frees a reserved challenge place (challenge consumed, or never issued). */
  forgetChallenge(deviceId: string, nonce: string): void {
    this.ctx.storage.sql.exec("DELETE FROM pending WHERE device_id = ? AND nonce = ?", deviceId, nonce);
  }

  private _device(deviceId: string): DeviceRecord | undefined {
    const row = this.ctx.storage.sql.exec<{ record: string }>("SELECT record FROM devices WHERE device_id = ?", deviceId).toArray()[0];
    return row ? (JSON.parse(row.record) as DeviceRecord) : undefined;
  }

  private _save(device: DeviceRecord): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO devices (device_id, slot, record, last_seen) VALUES (?, ?, ?, ?)",
      device.device_id,
      this.slotOf(device.device_id),
      JSON.stringify(device),
      device.last_seen,
    );
  }

  private async _cleanup(): Promise<void> {
    const now = Date.now();
    const gone = this.ctx.storage.sql
      .exec<{ device_id: string }>("DELETE FROM devices WHERE last_seen < ? RETURNING device_id", now - DEVICE_RETENTION_MS)
      .toArray()
      .map((r) => r.device_id);
    this.ctx.storage.sql.exec("DELETE FROM pending WHERE expires_at <= ?", now);
    if (gone.length > 0) await deviceIndex(this.env).release(gone);
    const left = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM devices").one().n;
    if (left > 0) await this.timers.after(CLEANUP, CLEANUP_EVERY_MS);
  }
}
