/**
 * The codes the hub (`sas-token/hub`) raises, declared here and not in the core: they join the
 * core's `SasTokenErrorCode` through its `LayerErrorCodes`, still on the one `SasTokenError`
 * class. Types only; nothing here runs.
 *
 * @module
 */
/** The hub's error codes, one property each (the values mean nothing). */
export interface HubErrorCodes {
  /** `state.json` (or a key file beside it) cannot be read as the hub's state; `file` names it. */
  ERR_HUB_STATE_CORRUPT: true
  /** The state directory could not be read or written; `errno` says why. */
  ERR_HUB_STATE_IO: true
  /** An explicitly given port is taken or needs privileges. */
  ERR_HUB_PORT_UNAVAILABLE: true
  /** A bind beyond loopback without the option that allows it. */
  ERR_HUB_INSECURE_BIND: true
  /** No such device, module, enrollment, message or policy. */
  ERR_HUB_NOT_FOUND: true
  /** It exists already. */
  ERR_HUB_CONFLICT: true
  /** The `If-Match` ETag does not match. */
  ERR_HUB_PRECONDITION_FAILED: true
  /** A request or option the hub cannot take; the message says which field and why. */
  ERR_HUB_BAD_REQUEST: true
  /** The device's C2D queue is full. */
  ERR_HUB_QUEUE_FULL: true
  /** The device is not connected, or has not subscribed to what was sent. */
  ERR_HUB_DEVICE_NOT_ONLINE: true
  /** The device did not answer a direct method in time. */
  ERR_HUB_METHOD_TIMEOUT: true
  /** The hub is closed, or closing. */
  ERR_HUB_CLOSED: true
  /** A service client's token is missing, wrong, expired, or its policy lacks the right. */
  ERR_HUB_UNAUTHORIZED: true
  /** A query (`POST /devices/query`) the hub cannot parse or run; `position` (1-based) and `token` say where. */
  ERR_HUB_QUERY_INVALID: true
  /** A bulk registry request over IoT Hub's limit of 100 items. */
  ERR_HUB_TOO_MANY_DEVICES: true
  /** An operation throttled (IoT Hub's `IotHubThrottled`, HTTP 429): `retryAfterSeconds` says when to retry. */
  ERR_HUB_THROTTLED: true
  /** An operation over the hub's message quota (`IotHubQuotaExceeded`, HTTP 403): `retryAfterSeconds`. */
  ERR_HUB_QUOTA_EXCEEDED: true
  /** A connect refused on purpose by a fault (`AuthFailure`, the operator's refuse): the credentials are fine. */
  ERR_HUB_FAULT_REFUSED: true
}

/** Every code the hub raises on a `SasTokenError`. */
export type HubErrorCode = keyof HubErrorCodes

declare module '../errors.js' {
  interface LayerErrorCodes extends HubErrorCodes {}
}
