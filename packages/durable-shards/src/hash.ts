/**
 * Key → slot hashing.
 *
 * The hash is FNV-1a over the key's UTF-8 bytes followed by the MurmurHash3 32-bit finaliser, so
 * every input bit affects every output bit (FNV-1a alone mixes its low bits poorly). It is
 * specified over UTF-8 so that other languages (a CLI, a migration script) can compute the same
 * slot. The slot is derived from the high bits with a multiply-shift, which works for any slot
 * count, not only powers of two.
 */

import { checkKey, isKey, isSlotCount, parse, slotCountSchema } from "./schema.js";

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Well-mixed 32-bit unsigned hash of a string's UTF-8 encoding. */
export function hashKey(key: string): number {
  let h = FNV_OFFSET;
  const length = key.length;
  for (let i = 0; i < length; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), FNV_PRIME);
    } else {
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < length) {
        const low = key.charCodeAt(i + 1);
        if (low >= 0xdc00 && low < 0xe000) {
          c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
          i++;
          h = Math.imul(h ^ (0xf0 | (c >> 18)), FNV_PRIME);
          h = Math.imul(h ^ (0x80 | ((c >> 12) & 0x3f)), FNV_PRIME);
          h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
          h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
          continue;
        }
      }
      // Lone surrogates are hashed as U+FFFD, as TextEncoder would encode them.
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      h = Math.imul(h ^ (0xe0 | (c >> 12)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), FNV_PRIME);
    }
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), FNV_PRIME);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Maps a 32-bit hash onto `[0, slotCount)` using its high bits. */
export function slotOfHash(hash: number, slotCount: number): number {
  return Math.floor((hash * slotCount) / 4294967296);
}

/**
 * The slot of `key` in a keyspace of `slotCount` slots. Throws `InvalidKey` for a key that is not
 * 1 … 1,024 characters and `InvalidArgument` for a slot count outside 1 … 65,536.
 */
export function slotForKey(key: string, slotCount: number): number {
  if (!isKey(key)) checkKey(key);
  if (!isSlotCount(slotCount)) parse(slotCountSchema, slotCount, "slotCount");
  return slotOfHash(hashKey(key), slotCount);
}
