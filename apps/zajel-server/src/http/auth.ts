/** Bearer-secret checks (§4.2.2, §4.2.8, §4.3.3, §4.3.7), compared in constant time. */
import { constantTimeEqual } from "../crypto/hmac.js";
import { HttpError } from "./errors.js";

/** Whether the `Authorization` header is exactly `Bearer <secret>`. */
export function hasBearer(request: Request, secret: string): boolean {
  return constantTimeEqual(request.headers.get("Authorization") ?? "", `Bearer ${secret}`);
}

/**
 * Requires `Bearer <secret>`; an unset secret answers 503 with `unsetError` (the endpoint's own
 * wording), a wrong header 401 `Unauthorized`.
 */
export function requireSecret(request: Request, secret: string | undefined, unsetError: string): void {
  if (!secret) throw HttpError.of(503, unsetError);
  if (!hasBearer(request, secret)) throw HttpError.of(401, "Unauthorized");
}
