/** JSON error answers (§3.2): `{"error":"<text>"}`, optionally with more keys. */

/** A JSON response with compact body and `Content-Type: application/json`. */
export function json(body: unknown, status = 200, headers?: HeadersInit): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...Object.fromEntries(new Headers(headers)) },
  });
}

/** `{"error": text, ...extra}` with `status`. */
export function jsonError(status: number, error: string, extra?: Record<string, unknown>, headers?: HeadersInit): Response {
  return json({ error, ...extra }, status, headers);
}

/** Thrown by handlers to answer with an error; the app turns it into its response. */
export class HttpError extends Error {
  constructor(
    readonly response: Response,
    detail?: string,
  ) {
    super(detail === undefined ? `HTTP ${response.status}` : `HTTP ${response.status}: ${detail}`);
  }

  static of(status: number, error: string, extra?: Record<string, unknown>, headers?: HeadersInit): HttpError {
    return new HttpError(jsonError(status, error, extra, headers), error);
  }
}
