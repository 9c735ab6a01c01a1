/** Bindings and configuration of the server (names as in shared/zajel-protocol.md §2). */
import type { ShardDirectory } from "durable-shards";

export interface Env {
  DIRECTORY: DurableObjectNamespace<ShardDirectory>;
  BOOTSTRAP_SIGNING_KEY?: string;
  ATTESTATION_SIGNING_KEY?: string;
  BUILD_TOKEN_VERIFY_KEY?: string;
  CI_UPLOAD_SECRET?: string;
  SERVER_REGISTRY_SECRET?: string;
  SERVER_IDENTITY_KEY?: string;
  DEV_MODE?: string;
  LOG_LEVEL?: string;
}
