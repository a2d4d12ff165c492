/**
 * The codes the CLI's hub REST client (`hub-client.ts`) raises when a service request fails on
 * the way or in its answer, declared here and not in the core: they join the core's
 * `SasTokenErrorCode` through its `LayerErrorCodes`, still on the one `SasTokenError` class.
 * (What the hub itself refuses maps to the hub's codes, `hub-error-codes.ts`.) Types only.
 *
 * @module
 */
// The client also raises the hub's codes (ERR_HUB_NOT_FOUND, …) for what the hub answered.
import type {} from '../hub/hub-error-codes.js'

/** The hub client's error codes, one property each (the values mean nothing). */
export interface HubClientErrorCodes {
  /** No hub answers at the endpoint (refused, timed out, no such host). */
  ERR_HUB_UNREACHABLE: true
  /** The TLS handshake failed: the hub's CA is not trusted, or the name does not match. */
  ERR_HUB_TLS: true
  /** The hub answered 401: the policy or its key is wrong. */
  ERR_HUB_UNAUTHORIZED: true
  /** The hub answered with a status the client has no other code for. */
  ERR_HUB_REQUEST_FAILED: true
  /** The hub's answer is not what the request expects. */
  ERR_HUB_BAD_RESPONSE: true
}

/** Every code the hub client raises on a `SasTokenError`. */
export type HubClientErrorCode = keyof HubClientErrorCodes

declare module '../errors.js' {
  interface LayerErrorCodes extends HubClientErrorCodes {}
}
