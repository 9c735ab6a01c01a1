/**
 * Bad input (§7.1.2–7.1.5): random frames — invalid JSON, JSON that is not an object, objects
 * without a string `type`, unknown types, and every client message type of §7.2–7.8 with fields
 * of random types and sizes, as text and as binary frames — never crash or wedge a gateway. The
 * sockets get error frames, never `Internal server error` (an unexpected handler failure), are
 * never closed except by the rules of §7.1.8, and fresh sockets on every gateway still pair.
 *
 * The frames come from fast-check with one random seed per run, logged and printed in every
 * assertion message; set `FUZZ_SEED` below to replay a run (the tests run inside workerd, which
 * does not see the shell's environment). Frames of one socket replay exactly; what sockets meet
 * of each other's state depends on timing.
 *
 * The per-socket rate limit (100 frames a minute, §7.1.4 step 2) shapes the test: handler logic is
 * fuzzed with at most 100 frames per socket over many sockets, and one socket gets the full 1,000
 * frames to show the rate-limited path answers every frame and the socket recovers.
 */
import { env, runInDurableObject } from "cloudflare:test";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { connect, keyOf, randomCode, socketOn, type Frame, type TestSocket } from "./client.js";

/** Replay a failing run by putting its seed here. */
const FUZZ_SEED: number | undefined = undefined;

const SEED = FUZZ_SEED ?? crypto.getRandomValues(new Int32Array(1))[0]!;
const seeded = (what: string) => `${what} [fuzz seed ${SEED}]`;

const GATEWAYS = 4;
const MAX_FRAME_BYTES = 262_144;
const RATE_LIMITED = "Rate limit exceeded. Please slow down.";
const INTERNAL = "Internal server error";
const PARSE_ERROR = "Invalid message format: JSON parse error";
const NOT_OBJECT = "Invalid message: Message must be a JSON object";
const NO_TYPE = 'Invalid message: Missing or invalid "type" field';
/** Frame types carrying a failure (§7.1.5), with the key of their text. */
const ERROR_TYPES: Record<string, "message" | "error"> = {
  error: "message",
  code_collision: "message",
  attest_error: "message",
  attest_failed: "message",
  pair_error: "error",
  link_error: "error",
  chunk_error: "error",
};
/** The client message types of §7.2–7.8. */
const CLIENT_TYPES = [
  "register", "pair_request", "pair_response", "pair_accept", "pair_reject", "offer", "answer", "ice_candidate", "call_offer",
  "call_answer", "call_ice", "call_reject", "call_hangup", "link_request", "link_response", "update_load", "get_relays", "heartbeat",
  "ping", "register_rendezvous", "chunk_announce", "chunk_request", "chunk_push", "channel-owner-register", "channel-subscribe",
  "upstream-message", "stream-start", "stream-frame", "stream-end", "attest_request", "attest_response",
];

// ---------------------------------------------------------------------------------------------
// Frame generators
// ---------------------------------------------------------------------------------------------

/** One outgoing frame: text, or binary bytes. */
type Out = string | Uint8Array;

const utf8 = (text: string) => new TextEncoder().encode(text);
const bytesOf = (out: Out) => (typeof out === "string" ? utf8(out).length : out.length);
const textOf = (out: Out) => (typeof out === "string" ? out : new TextDecoder().decode(out));
/** A short printable description of a frame for assertion messages. */
function describeFrame(out: Out): string {
  const text = textOf(out);
  const head = text.length > 240 ? `${text.slice(0, 240)}… (${text.length} chars)` : text;
  return `${typeof out === "string" ? "text" : `binary ${out.length} bytes`}: ${JSON.stringify(head)}`;
}

const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const validCode = fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 6, maxLength: 6 });
/** Codes, relay ids, channels and chunks shared by all fuzzed sockets, so frames meet each other's state. */
const POOL = {
  codes: [...new Set(fc.sample(validCode, { seed: SEED, numRuns: 12 }))],
  peers: ["fuzz-relay-a", "fuzz-relay-b", "fuzz_relay_c"].map((p) => `${p}-${(SEED >>> 0).toString(36)}`),
  channels: ["fuzz-channel-1", "fuzz-channel-2", "fuzz-channel-3"].map((c) => `${c}-${(SEED >>> 0).toString(36)}`),
  chunks: ["chunk-1", "chunk-2", "chunk-3"].map((c) => `${c}-${(SEED >>> 0).toString(36)}`),
  streams: ["stream-1", "stream-2"],
};

/** A huge string of 10–200 KB once serialized, made of one repeated unit (multi-byte and escaped units included). */
const hugeString = fc
  .record({
    unit: fc.constantFrom<[string, number]>(["x", 1], ["é", 2], ["😀", 4], ["\u0000", 6], ['"', 2], ["\\", 2], ["\u2028", 3], ["\ud800", 6]),
    bytes: fc.integer({ min: 10_000, max: 200_000 }),
  })
  .map(({ unit: [unit, width], bytes }) => unit.repeat(Math.floor(bytes / width)));

/** Arrays nested 100–3,000 deep. */
const deepValue = fc.integer({ min: 100, max: 3_000 }).map((depth) => {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
  return value;
});
/** Objects with 500–5,000 keys. */
const wideObject = fc.integer({ min: 500, max: 5_000 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
/** Keys that trip code treating plain objects as maps. */
const trickyKey = fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf", "toJSON", "then", "length", "");

/** A value of any type: what a careless or hostile client may put in any field. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.anything({ maxDepth: 3, maxKeys: 5 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, -1, 1e308, -1e308, 2 ** 53 + 2, 0.5, 1e-300)) },
  { weight: 2, arbitrary: fc.constantFrom(null, true, false, "", [], {}, "null", "0", "true", "undefined", "NaN", "[object Object]") },
  { weight: 1, arbitrary: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 300 }) },
  { weight: 1, arbitrary: fc.dictionary(trickyKey, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 }) },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: wideObject },
  { weight: 1, arbitrary: hugeString },
);
/** A field: mostly a plausible value of the right shape, often junk. */
const field = (plausible: fc.Arbitrary<unknown>) => fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 2, arbitrary: junk });

const code = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...POOL.codes) },
  { weight: 2, arbitrary: validCode },
  { weight: 1, arbitrary: fc.constantFrom("", "abcdef", "ABCDE", "ABCDEFG", "ABCDE0", "ABC 23", "ABCDEI", " ABCDE", "ABCDE\n") },
);
const publicKey = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 255 }).map(keyOf) },
  { weight: 1, arbitrary: fc.constantFrom("", "AAAA", "not base64!", "=".repeat(44), keyOf(7).replace(/=$/, ""), `${keyOf(7)}==`, btoa("x".repeat(31)), btoa("x".repeat(33))) },
  { weight: 1, arbitrary: fc.string({ maxLength: 1_030 }) },
);
const peerId = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...POOL.peers, ...POOL.codes) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/) },
  { weight: 1, arbitrary: fc.constantFrom("", "a".repeat(129), "bad id", "x/y", "ü", "__proto__") },
);
const numberish = fc.oneof(
  fc.integer({ min: -10, max: 20_000 }),
  fc.double(),
  fc.constantFrom("5", "1e3", "abc", "", " 7 ", "0x10", "Infinity", 1000, 1001, 0, 10_000, 10_001),
);
const channelId = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...POOL.channels) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "c".repeat(256), "c".repeat(257)) },
);
const chunkId = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...POOL.chunks) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.constantFrom("", "k".repeat(256), "k".repeat(257)) },
);
const streamId = fc.oneof(fc.constantFrom(...POOL.streams), fc.string({ maxLength: 20 }), fc.constant(""));
const shortStrings = (max: number) => fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.constant("p".repeat(129))), { maxLength: max });
const sized = (min: number, max: number, unit = "s") => fc.integer({ min, max }).map((n) => unit.repeat(n));
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);

const callPayload = fc.record(
  {
    callId: field(fc.oneof(fc.uuid({ version: 4 }), fc.uuid(), fc.constantFrom("", "not-a-uuid"))),
    sdp: field(fc.oneof(fc.constant("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"), fc.string(), sized(65_530, 65_540))),
    candidate: field(fc.oneof(fc.constant("candidate:1 1 UDP 2122252543 192.0.2.1 54400 typ host"), fc.string(), sized(1_020, 1_030))),
    withVideo: field(fc.boolean()),
    reason: field(fc.string()),
  },
  { requiredKeys: [] },
);

/** The fields of each client message type (§7.2–7.8), each with a plausible generator. */
const MESSAGES: [string, Record<string, fc.Arbitrary<unknown>>][] = [
  ["register", { pairingCode: code, publicKey }],
  ["register", { peerId, maxConnections: numberish, publicKey: fc.oneof(publicKey, sized(1_020, 1_030, "k")) }],
  ["pair_request", { targetCode: code, proposedName: fc.string() }],
  ["pair_response", { targetCode: code, accepted: fc.boolean() }],
  ["pair_accept", { targetCode: code }],
  ["pair_reject", { targetCode: code }],
  ...["offer", "answer", "ice_candidate"].map((type): [string, Record<string, fc.Arbitrary<unknown>>] => [type, { target: code, payload: junk }]),
  ...["call_offer", "call_answer", "call_ice", "call_reject", "call_hangup"].map((type): [string, Record<string, fc.Arbitrary<unknown>>] => [
    type,
    { target: code, payload: callPayload },
  ]),
  ["link_request", { linkCode: code, publicKey, deviceName: fc.string() }],
  ["link_response", { linkCode: code, accepted: fc.boolean(), deviceId: fc.string() }],
  ["update_load", { peerId, connectedCount: numberish }],
  ["get_relays", { peerId, count: numberish }],
  ["heartbeat", { peerId }],
  ["ping", {}],
  [
    "register_rendezvous",
    {
      peerId,
      relayId: fc.oneof(fc.constantFrom(...POOL.peers), fc.string({ maxLength: 140 })),
      dailyPoints: shortStrings(55),
      daily_points: shortStrings(55),
      hourlyTokens: shortStrings(55),
      hourly_tokens: shortStrings(55),
      dead_drops: fc.dictionary(fc.oneof(fc.string({ maxLength: 140 }), trickyKey), fc.oneof(fc.string(), sized(4_090, 4_100, "d")), { maxKeys: 55 }),
      deadDrops: fc.dictionary(fc.string({ maxLength: 20 }), fc.string(), { maxKeys: 5 }),
      deadDrop: fc.oneof(fc.string(), sized(4_090, 4_100, "d")),
    },
  ],
  [
    "chunk_announce",
    {
      peerId,
      chunks: fc.array(
        fc.oneof(fc.record({ chunkId: field(chunkId), routingHash: field(fc.oneof(fc.string(), sized(250, 260, "h"))) }, { requiredKeys: [] }), junk),
        { maxLength: 105 },
      ),
      channelId,
    },
  ],
  ["chunk_request", { chunkId, channelId, peerId }],
  ["chunk_push", { chunkId, channelId, peerId, data: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string(), sized(65_530, 65_540, "c"), fc.constantFrom(null, false, 0, "")) }],
  ["channel-owner-register", { channelId }],
  ["channel-subscribe", { channelId }],
  ["upstream-message", { channelId, ephemeralPublicKey: publicKey, message: fc.oneof(fc.record({ id: fc.string(), body: fc.string() }, { requiredKeys: [] }), fc.jsonValue()) }],
  ["stream-start", { streamId, channelId, title: fc.jsonValue() }],
  ["stream-frame", { streamId, channelId, frame: fc.jsonValue() }],
  ["stream-end", { streamId, channelId }],
  ["attest_request", { device_id: fc.oneof(fc.uuid(), fc.string()), build_version: fc.constantFrom("1.0.0", "", "9.9.9"), build_token: fc.string() }],
];
/** `attest_response` may legitimately end the socket (attest_failed, close 4001, §7.8): only ever sent last. */
const ATTEST_RESPONSE: [string, Record<string, fc.Arbitrary<unknown>>] = [
  "attest_response",
  {
    nonce: fc.oneof(hex64, fc.string()),
    responses: fc.oneof(fc.array(fc.record({ region_index: fc.nat(), hmac: hex64 }, { requiredKeys: [] }), { maxLength: 4 }), fc.constant([])),
  },
];

/** Random extra fields (ignored by the server, §7.1.2), including keys that name Object.prototype members. */
const extras = fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), trickyKey), junk, { maxKeys: 3 });

function messageOf([type, fields]: [string, Record<string, fc.Arbitrary<unknown>>]): fc.Arbitrary<Frame> {
  const model = Object.fromEntries(Object.entries(fields).map(([name, plausible]) => [name, field(plausible)]));
  return fc
    .tuple(extras, fc.record(model, { requiredKeys: [] }))
    .map(([extra, values]) => Object.assign(Object.fromEntries(Object.entries(extra)), values, { type }) as Frame);
}

/** Every field present with a plausible value: reaches the handlers' deeper paths (registered codes, matches, owners…). */
function cleanMessageOf([type, fields]: [string, Record<string, fc.Arbitrary<unknown>>]): fc.Arbitrary<Frame> {
  return fc.record(fields).map((values) => ({ ...values, type }) as Frame);
}
/** Types that create state other frames act on, sent clean more often. */
const SETUP_TYPES = new Set(["register", "pair_request", "pair_response", "link_request", "channel-owner-register", "channel-subscribe", "chunk_announce", "stream-start"]);

const message = fc.oneof(
  { weight: 1, arbitrary: fc.oneof(...MESSAGES.map(messageOf)) },
  { weight: 1, arbitrary: fc.oneof(...MESSAGES.map((spec) => ({ weight: SETUP_TYPES.has(spec[0]) ? 4 : 1, arbitrary: cleanMessageOf(spec) }))) },
);
/** Names of Object.prototype members: unknown types a plain-object lookup would mistake for handlers. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
const unknownType = fc
  .oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: "binary", maxLength: 10 }),
    fc.constantFrom(...PROTOTYPE_NAMES, "PING", "Register", "pair-request", " ping", "ping ", "ping\u0000", "chunk-announce", "channel_subscribe", ""),
    fc.constantFrom(...CLIENT_TYPES).map((t) => t.toUpperCase()),
  )
  .filter((t) => !CLIENT_TYPES.includes(t));

const invalidJson = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 60 }),
  fc.tuple(message.map((m) => JSON.stringify(m)), fc.nat()).map(([text, n]) => text.slice(0, n % text.length)),
  fc.constantFrom("", " ", "{", "}", "[", "{'type':'ping'}", '{"type":"ping",}', '{"type":ping}', "NaN", "undefined", '\ufeff{"type":"ping"}', '{"type":"ping"}{"type":"ping"}', '{"type":"ping"'),
  hugeString.map((s) => `{"type":"ping","pad":"${s.replace(/["\\]/g, "x").replace(/\u0000/g, "_")}`),
);
const nonObject = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
  fc.array(message, { minLength: 1, maxLength: 3 }),
  fc.constantFrom([{ type: "ping" }], "ping", 0, null, true),
);
const badType = fc.tuple(message, fc.option(junk.filter((v) => typeof v !== "string"), { nil: undefined })).map(([m, type]) => {
  const out: Frame = { ...m };
  if (type === undefined) delete out.type;
  else out.type = type;
  return out;
});
const unknownMessage = fc.tuple(unknownType, extras).map(([type, extra]) => ({ ...Object.fromEntries(Object.entries(extra)), type }));

/**
 * Text frames carry UTF-8 (RFC 6455 §5.6), so a string with lone surrogates cannot be sent as
 * one: they become U+FFFD, as a browser's `send` does (workerd's in-process transport would
 * deliver each of their WTF-8 bytes as a U+FFFD, tripling the frame's size as the server measures
 * it). Invalid UTF-8 is sent in binary frames instead.
 */
const wellFormed = (text: string) => text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
const textFrame: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 12, arbitrary: message.map((m) => JSON.stringify(m)) },
    { weight: 2, arbitrary: invalidJson },
    { weight: 1, arbitrary: nonObject.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: badType.map((m) => JSON.stringify(m)) },
    { weight: 2, arbitrary: unknownMessage.map((m) => JSON.stringify(m)) },
  )
  .map(wellFormed);
/** Any frame under the size limit: text, UTF-8 JSON as binary, or random bytes. */
const anyFrame: fc.Arbitrary<Out> = fc
  .oneof(
    { weight: 8, arbitrary: textFrame },
    { weight: 1, arbitrary: textFrame.map(utf8) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2_000 }) },
  )
  .filter((out) => bytesOf(out) <= MAX_FRAME_BYTES);
const attestResponseFrame: fc.Arbitrary<Out> = messageOf(ATTEST_RESPONSE)
  .map((m) => JSON.stringify(m))
  .filter((text) => bytesOf(text) <= MAX_FRAME_BYTES);

/**
 * A valid start most sockets make before the random frames, so that those meet registered codes,
 * relay peers, channel owners and subscribers: a pool code, maybe a relay peerId, maybe a channel.
 */
const prelude: fc.Arbitrary<Out[]> = fc
  .tuple(
    fc.option(fc.record({ pairingCode: fc.constantFrom(...POOL.codes), publicKey: fc.integer({ min: 0, max: 255 }).map(keyOf) }), { freq: 5 }),
    fc.option(fc.record({ peerId: fc.constantFrom(...POOL.peers), maxConnections: fc.integer({ min: 1, max: 1000 }), publicKey: fc.string({ maxLength: 50 }) })),
    fc.option(fc.tuple(fc.constantFrom("channel-owner-register", "channel-subscribe"), fc.constantFrom(...POOL.channels))),
  )
  .map(([code, relay, channel]) => [
    ...(code ? [JSON.stringify({ type: "register", ...code })] : []),
    ...(relay ? [JSON.stringify({ type: "register", ...relay })] : []),
    ...(channel ? [JSON.stringify({ type: channel[0], channelId: channel[1] })] : []),
  ]);

/** `count` frames of stream `stream` of this run's seed, after a valid prelude (unless given another generator). */
function framesFor(stream: number, count: number, arbitrary = anyFrame): Out[] {
  const seed = (SEED + stream * 7_919) | 0;
  const start = arbitrary === anyFrame ? fc.sample(prelude, { seed, numRuns: 1 })[0]! : [];
  return [...start, ...fc.sample(arbitrary, { seed: seed + 1, numRuns: count - start.length })];
}

/** What the server must answer a frame that fails steps 3–4 or 7 (unknown type) of §7.1.4, if it does. */
function expectedError(out: Out): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(textOf(out));
  } catch {
    return PARSE_ERROR;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return NOT_OBJECT;
  const type = (value as Frame).type;
  if (typeof type !== "string") return NO_TYPE;
  return CLIENT_TYPES.includes(type) ? undefined : `Unknown message type: ${type}`;
}
const isPing = (out: Out) => {
  try {
    const value = JSON.parse(textOf(out)) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) && (value as Frame).type === "ping";
  } catch {
    return false;
  }
};

// ---------------------------------------------------------------------------------------------
// Socket helpers
// ---------------------------------------------------------------------------------------------

/** `n` random bytes (getRandomValues fills at most 64 KiB at a time). */
function randomBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let at = 0; at < n; at += 65_536) crypto.getRandomValues(bytes.subarray(at, Math.min(n, at + 65_536)));
  return bytes;
}

function sendOut(socket: TestSocket, out: Out): void {
  if (typeof out === "string") socket.ws.send(out);
  else socket.ws.send(out.slice().buffer);
}

/** Waits until `done()` holds or the socket closed, up to `ms`. */
async function until(socket: TestSocket, done: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && socket.closed.code === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

const errorText = (frame: Frame): string | undefined => {
  const key = ERROR_TYPES[frame.type as string];
  return key === undefined ? undefined : (frame[key] as string);
};
const pongs = (frames: Frame[]) => frames.filter((f) => f.type === "pong").length;

/** Every frame received is a typed object; every failure frame carries a non-empty text, never the crash text. */
function checkAnswers(frames: Frame[], where: string): void {
  for (const frame of frames) {
    expect(typeof frame === "object" && frame !== null && typeof frame.type === "string", seeded(`${where}: untyped frame ${JSON.stringify(frame)}`)).toBe(true);
    if (!(frame.type as string in ERROR_TYPES)) continue;
    const text = errorText(frame);
    expect(typeof text === "string" && text.length > 0, seeded(`${where}: failure frame without text ${JSON.stringify(frame)}`)).toBe(true);
    expect(text, seeded(`${where}: handler crashed`)).not.toBe(INTERNAL);
  }
}

/**
 * The socket is open, or was closed by the server for a reason §7.1.8 allows here:
 * 4001 after `attest_failed`.
 */
function checkOpen(socket: TestSocket, where: string): void {
  if (socket.closed.code === undefined) return;
  const allowed = socket.closed.code === 4001 && socket.closed.reason === "Attestation failed" && socket.frames.some((f) => f.type === "attest_failed");
  expect(allowed, seeded(`${where}: socket closed ${JSON.stringify(socket.closed)} after ${JSON.stringify(socket.frames.at(-1))}`)).toBe(true);
}

/** Waits until no frame arrived for `ms` (answers that workerd delivered after a later pong, see below). */
async function settle(socket: TestSocket, ms = 150): Promise<void> {
  for (let count = -1; count !== socket.frames.length; ) {
    count = socket.frames.length;
    await new Promise((r) => setTimeout(r, ms));
  }
}

/**
 * The failure texts `frames` must have produced (the exact errors of §7.1.4 steps 3–4 and 7) are all
 * among the failure frames received, and there are no more failures than frames. Compared as a
 * multiset, not frame by frame: workerd may dispatch a socket's message events out of order while
 * the gateway awaits I/O for other sockets (observed: a ping sent after a frame answered first), so
 * an answer may arrive after the pong of a later ping.
 */
function checkExpectedErrors(frames: Out[], received: Frame[], where: string): void {
  const failures = received.map(errorText).filter((text): text is string => text !== undefined);
  const unmatched = [...failures];
  for (const [i, out] of frames.entries()) {
    const expected = expectedError(out);
    if (expected === undefined) continue;
    const at = unmatched.indexOf(expected);
    expect(at, seeded(`${where}: frame ${i} (${describeFrame(out)}) not answered ${JSON.stringify(expected)}; failures ${JSON.stringify(failures).slice(0, 800)}`)).toBeGreaterThanOrEqual(0);
    unmatched.splice(at, 1);
  }
  expect(failures.length, seeded(`${where}: more failure frames than frames sent`)).toBeLessThanOrEqual(frames.length);
}

/** A socket on gateway `index` answers ping with pong. */
async function answersPing(index: number, where: string): Promise<void> {
  const socket = await socketOn(index);
  socket.send({ type: "ping" });
  await until(socket, () => pongs(socket.frames) > 0, 10_000);
  expect(socket.frames.at(-1), seeded(`${where}: gateway ${index} did not answer a new socket`)).toEqual({ type: "pong" });
  socket.ws.close();
}

/** Moves the rate window of gateway `index`'s sockets that used ≥ `used` frames into the past. */
async function expireRateWindows(index: number, used: number): Promise<number> {
  return runInDurableObject(env.GATEWAY.getByName(`gateway:${index}`), (_, state) => {
    let moved = 0;
    for (const ws of state.getWebSockets()) {
      const attachment = ws.deserializeAttachment() as { frames?: { start: number; count: number } } | null;
      if (!attachment?.frames || attachment.frames.count < used) continue;
      ws.serializeAttachment({ ...attachment, frames: { start: Date.now() - 61_000, count: 0 } });
      moved++;
    }
    return moved;
  });
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

describe(`bad input never crashes or wedges a gateway (fuzz seed ${SEED})`, () => {
  beforeAll(() => console.info(`fuzz seed ${SEED} (replay: set FUZZ_SEED in test/realtime/fuzz.test.ts)`));

  it("answers random frames one at a time (frame, ping, frame, ping…) without a crash, with the exact errors of steps 3–4 and 7", async () => {
    // 16 sockets, 4 per gateway, 49 frames each followed by a ping (98 frames ≤ the 100 a minute);
    // half of them end with an attest_response (which may close the socket, §7.8).
    const SOCKETS = 16;
    await Promise.all(
      Array.from({ length: SOCKETS }, async (_, s) => {
        const index = s % GATEWAYS;
        const where = `one-at-a-time socket ${s} on gateway:${index}`;
        const socket = await socketOn(index);
        const frames = framesFor(s, 49);
        if (s % 2) frames.push(...framesFor(1_000 + s, 1, attestResponseFrame));
        const start = socket.frames.length;
        let expectedPongs = 0;
        for (const [i, out] of frames.entries()) {
          sendOut(socket, out);
          socket.send({ type: "ping" });
          expectedPongs += isPing(out) ? 2 : 1;
          await until(socket, () => pongs(socket.frames.slice(start)) >= expectedPongs);
          const context = `${where}, frame ${i} (${describeFrame(out)})`;
          checkAnswers(socket.frames.slice(start), context);
          if (socket.closed.code !== undefined) {
            checkOpen(socket, context);
            expect(i, seeded(`${context}: closed before its last frame`)).toBe(frames.length - 1);
            break;
          }
          expect(pongs(socket.frames.slice(start)), seeded(`${context}: no pong, the socket is wedged`)).toBe(expectedPongs);
        }
        await settle(socket);
        const answers = socket.frames.slice(start);
        checkAnswers(answers, where);
        checkExpectedErrors(frames, answers, where);
        socket.ws.close();
      }),
    );
  }, 60_000);

  it("survives bursts of 99 random frames sent at once on many sockets, every gateway still answering", async () => {
    const SOCKETS = 8;
    await Promise.all(
      Array.from({ length: SOCKETS }, async (_, s) => {
        const index = s % GATEWAYS;
        const where = `burst socket ${s} on gateway:${index}`;
        const socket = await socketOn(index);
        const frames = framesFor(100 + s, s % 2 ? 98 : 99);
        if (s % 2) frames.push(...framesFor(2_000 + s, 1, attestResponseFrame));
        const start = socket.frames.length;
        for (const out of frames) sendOut(socket, out);
        socket.send({ type: "ping" });
        const expectedPongs = frames.filter(isPing).length + 1;
        await until(socket, () => pongs(socket.frames.slice(start)) >= expectedPongs, 40_000);
        await settle(socket);
        const answers = socket.frames.slice(start);
        checkAnswers(answers, where);
        checkOpen(socket, where);
        if (socket.closed.code === undefined) {
          expect(pongs(answers), seeded(`${where}: barrier ping unanswered, the socket is wedged`)).toBe(expectedPongs);
          checkExpectedErrors(frames, answers, where);
        }
        expect(answers.some((f) => errorText(f) !== undefined), seeded(`${where}: no error for 99 random frames`)).toBe(true);
        expect(answers.filter((f) => f.type === "error" && f.message === RATE_LIMITED), seeded(where)).toEqual([]);
        socket.ws.close();
      }),
    );
    for (let index = 0; index < GATEWAYS; index++) await answersPing(index, "after the bursts");
  }, 60_000);

  it("answers 1,000 random frames on one socket — 900 of them rate-limited — and the socket recovers when its window ends", async () => {
    const index = (SEED >>> 0) % GATEWAYS;
    const where = `1,000-frame socket on gateway:${index}`;
    const socket = await socketOn(index);
    const frames = framesFor(300, 1_000);
    const start = socket.frames.length;
    for (const out of frames) sendOut(socket, out);
    const limited = () => socket.frames.filter((f) => f.type === "error" && f.message === RATE_LIMITED).length;
    // Frames 101–1,000 are refused, and the 1,001st (a ping) too: 901 refusals mean every frame was processed.
    socket.send({ type: "ping" });
    await until(socket, () => limited() >= 901, 40_000);
    await settle(socket);
    checkAnswers(socket.frames.slice(start), where);
    checkOpen(socket, where);
    expect(socket.closed.code, seeded(`${where}: closed`)).toBeUndefined();
    expect(limited(), seeded(`${where}: rate-limit answers`)).toBe(901);
    // 100 frames were served: each with at most one failure, a pong for each ping among them.
    const served = socket.frames.slice(start).filter((f) => !(f.type === "error" && f.message === RATE_LIMITED));
    expect(served.filter((f) => errorText(f) !== undefined).length, seeded(`${where}: failures of the 100 served frames`)).toBeLessThanOrEqual(100);
    expect(pongs(served), seeded(`${where}: pongs`)).toBeLessThanOrEqual(frames.filter(isPing).length);
    // Once its window is over (moved into the past instead of waiting a minute) the same socket is served again.
    expect(await expireRateWindows(index, 1_001), seeded(where)).toBeGreaterThanOrEqual(1);
    const before = pongs(socket.frames);
    socket.send({ type: "ping" });
    await until(socket, () => pongs(socket.frames) > before, 10_000);
    expect(socket.frames.at(-1), seeded(`${where}: no pong after the window`)).toEqual({ type: "pong" });
    socket.ws.close();
  }, 60_000);

  it("answers each Object.prototype member name as an unknown type (no handler lookup through the prototype)", async () => {
    const socket = await socketOn(0);
    for (const type of PROTOTYPE_NAMES) socket.send({ type });
    socket.send({ type: "ping" });
    await until(socket, () => socket.frames.length >= 2 + PROTOTYPE_NAMES.length + 1, 5_000);
    await settle(socket);
    // Sorted: this checks the answers, not their order (see checkExpectedErrors).
    const answers = socket.frames.slice(2).map((f) => JSON.stringify(f)).sort();
    const expected = [...PROTOTYPE_NAMES.map((type) => ({ type: "error", message: `Unknown message type: ${type}` })), { type: "pong" }];
    expect(answers).toEqual(expected.map((f) => JSON.stringify(f)).sort());
    socket.ws.close();
  }, 30_000);

  it("answers a frame over 256 KB with `Message too large` and closes 1009, text or binary; a frame of exactly 256 KB is served", async () => {
    /** A ping of at least `bytes` UTF-8 bytes (exactly, for one-byte units), padded with `unit`. */
    const pad = (bytes: number, unit = "x") => `{"type":"ping","pad":"${unit.repeat(Math.ceil((bytes - 24) / utf8(unit).length))}"}`;
    const exact = pad(MAX_FRAME_BYTES);
    expect(utf8(exact).length).toBe(MAX_FRAME_BYTES);
    const oversize: [string, Out][] = [
      ["text, 1 byte over", pad(MAX_FRAME_BYTES + 1)],
      ["text under 262,144 characters but over in UTF-8 bytes", pad(MAX_FRAME_BYTES + 2, "é")],
      ["binary JSON, 300 KB", utf8(pad(300_000))],
      ["binary random bytes, 256 KB + 1", randomBytes(MAX_FRAME_BYTES + 1)],
    ];
    expect(pad(MAX_FRAME_BYTES + 2, "é").length).toBeLessThan(MAX_FRAME_BYTES);
    for (const [i, [what, out]] of oversize.entries()) {
      const index = i % GATEWAYS;
      const socket = await socketOn(index);
      sendOut(socket, out);
      await until(socket, () => false, 10_000);
      expect(socket.frames.slice(2), what).toEqual([{ type: "error", message: "Message too large" }]);
      expect(socket.closed, what).toEqual({ code: 1009, reason: "Message Too Big" });
      await answersPing(index, `after an oversize frame (${what})`);
    }
    const socket = await socketOn(1);
    sendOut(socket, exact);
    await until(socket, () => pongs(socket.frames) > 0, 10_000);
    expect(socket.frames.slice(2)).toEqual([{ type: "pong" }]);
    expect(socket.closed.code).toBeUndefined();
    socket.ws.close();
  }, 30_000);

  it("afterwards, new sockets on every gateway pair across gateways, and a socket through the Worker is greeted and served", async () => {
    for (let index = 0; index < GATEWAYS; index++) {
      const where = seeded(`pairing gateway:${index} → gateway:${(index + 1) % GATEWAYS}`);
      const a = await socketOn(index);
      const b = await socketOn((index + 1) % GATEWAYS);
      const [codeA, codeB] = [randomCode(), randomCode()];
      expect(await a.ask({ type: "register", pairingCode: codeA, publicKey: keyOf(1) }), where).toMatchObject({ type: "registered", pairingCode: codeA });
      expect(await b.ask({ type: "register", pairingCode: codeB, publicKey: keyOf(2) }), where).toMatchObject({ type: "registered", pairingCode: codeB });
      a.send({ type: "pair_request", targetCode: codeB });
      expect(await b.next(), where).toMatchObject({ type: "pair_incoming", fromCode: codeA, fromPublicKey: keyOf(1) });
      b.send({ type: "pair_response", targetCode: codeA, accepted: true });
      expect(await b.next(), where).toEqual({ type: "pair_matched", peerCode: codeA, peerPublicKey: keyOf(1), isInitiator: false });
      expect(await a.next(), where).toEqual({ type: "pair_matched", peerCode: codeB, peerPublicKey: keyOf(2), isInitiator: true });
      a.ws.close();
      b.ws.close();
    }
    const viaWorker = await connect();
    expect((await viaWorker.next()).type).toBe("server_info");
    expect((await viaWorker.next()).type).toBe("server_identity");
    expect(await viaWorker.ask({ type: "ping" })).toEqual({ type: "pong" });
    viaWorker.ws.close();
  }, 30_000);
});
