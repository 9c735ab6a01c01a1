/**
 * Which store a request is for. A user's own store is `user:<userId>`; a user's store in an
 * organisation is `org:<orgId>/user:<userId>`. Both URL forms of the contract map here, and the
 * same key names the store in the legacy object and in the sharded placements.
 */
import { z } from "zod";

export const idSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "ids are 1-64 letters, digits, '_' or '-'");

/** The store of `userId` (in `orgId`, when given). */
export interface StoreRef {
  userId: string;
  orgId?: string;
}

export function storeKey({ userId, orgId }: StoreRef): string {
  return orgId === undefined ? `user:${userId}` : `org:${orgId}/user:${userId}`;
}

/** The user (and org) a store key names; `undefined` for a string that is not a store key. */
export function parseStoreKey(key: string): StoreRef | undefined {
  const match = /^(?:org:([A-Za-z0-9_-]{1,64})\/)?user:([A-Za-z0-9_-]{1,64})$/.exec(key);
  if (!match) return undefined;
  return match[1] === undefined ? { userId: match[2]! } : { userId: match[2]!, orgId: match[1] };
}
