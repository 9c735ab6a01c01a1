/** Eviction of one Durable Object in tests: its in-memory state is dropped, its storage kept. */
import { runInDurableObject } from "cloudflare:test";

/** Resets the object behind `stub` as the runtime does when it evicts it; the next call starts a fresh instance. */
export async function evictDurableObject(stub: DurableObjectStub): Promise<void> {
  await runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => state.abort("evicted by test (expected fault)")).catch(() => undefined);
}
