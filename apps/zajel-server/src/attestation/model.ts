/** Attestation data (§4.3.1): ids, device records, references, challenges. */
import { z } from "zod";

export const idSchema = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/);
export const CHALLENGE_TTL_MS = 5 * 60_000;
export const MAX_PENDING_CHALLENGES = 5;
export const MAX_DEVICES = 100_000;
export const DEVICE_RETENTION_MS = 90 * 86_400_000;

/** A device record, serialized in this key order. */
export interface DeviceRecord {
  device_id: string;
  build_version: string;
  platform: string;
  build_hash: string;
  registered_at: number;
  last_seen: number;
  attestation_history: number[];
  anomaly_flags: number;
  web_registration_timestamps: number[];
}

export interface CriticalRegion {
  offset: number;
  length: number;
  data_hex?: string;
  weight?: number;
}

/** One reference binary per (`version`, `platform`). */
export interface ReferenceRecord {
  version: string;
  platform: string;
  build_hash: string;
  size: number;
  critical_regions: CriticalRegion[];
  uploaded_at: number;
}

/** A region of a challenge, as sent to the app. */
export interface ChallengeRegion {
  index: number;
  offset: number;
  length: number;
}

export interface ChallengeRecord {
  nonce: string;
  device_id: string;
  build_version: string;
  platform: string;
  regions: ChallengeRegion[];
  created_at: number;
}

export function serializeDevice(d: DeviceRecord): DeviceRecord {
  return {
    device_id: d.device_id,
    build_version: d.build_version,
    platform: d.platform,
    build_hash: d.build_hash,
    registered_at: d.registered_at,
    last_seen: d.last_seen,
    attestation_history: d.attestation_history,
    anomaly_flags: d.anomaly_flags,
    web_registration_timestamps: d.web_registration_timestamps,
  };
}
