/** Parsing `POST /attest/upload-reference` bodies (§4.3.3), checks in the table's order. */
import { z } from "zod";
import { HttpError } from "../http/errors.js";
import { idSchema, type CriticalRegion, type ReferenceRecord } from "./model.js";

const nonEmpty = z.string().min(1);
const regionSchema = z.object({ offset: z.number().int().min(0), length: z.number().int().min(1) });
const hexSchema = z.string().regex(/^(?:[0-9a-fA-F]{2})*$/);
const weightSchema = z.number().int().min(1);
const sizeSchema = z.number().int().min(0);

export function referenceFromBody(body: Record<string, unknown>, now: number): ReferenceRecord {
  const { version, platform, build_hash, critical_regions, size } = body;
  if (!nonEmpty.safeParse(version).success || !nonEmpty.safeParse(platform).success || !nonEmpty.safeParse(build_hash).success) {
    throw HttpError.of(400, "Missing required fields: version, platform, build_hash");
  }
  if (!idSchema.safeParse(version).success || !idSchema.safeParse(platform).success) throw HttpError.of(400, "Invalid version or platform format");
  if (!Array.isArray(critical_regions) || critical_regions.length === 0) {
    throw HttpError.of(400, "critical_regions must be a non-empty array of { offset, length, hmac } objects");
  }
  const regions: CriticalRegion[] = critical_regions.map((region: unknown) => {
    if (!regionSchema.safeParse(region).success) throw HttpError.of(400, "Each critical_region must have numeric offset and length");
    const r = region as Record<string, unknown>;
    if (r.data_hex !== undefined && !hexSchema.safeParse(r.data_hex).success) throw HttpError.of(400, "Each critical_region data_hex must be even-length hex");
    if (r.weight !== undefined && !weightSchema.safeParse(r.weight).success) throw HttpError.of(400, "Each critical_region weight must be a positive integer");
    return { ...(r as object) } as CriticalRegion;
  });
  if (size !== undefined && !sizeSchema.safeParse(size).success) throw HttpError.of(400, "Invalid size");
  return {
    version: version as string,
    platform: platform as string,
    build_hash: build_hash as string,
    size: (size as number | undefined) ?? 0,
    critical_regions: regions,
    uploaded_at: now,
  };
}
