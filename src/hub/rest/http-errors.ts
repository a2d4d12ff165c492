/**
 * How the operator API answers a failure: one table from the hub's error codes to IoT Hub's
 * HTTP status, `code` and numeric `errorCode`, and the JSON body IoT Hub sends (the `azure-iothub`
 * SDK reads `Message` and `code`).
 *
 * @module
 */
import type { ServerResponse } from 'node:http'
import { isSasTokenError } from '../../errors.js'

/** A failure with IoT Hub's status and codes. */
export class HttpError extends Error {
  readonly status: number
  readonly errorCode: string
  readonly numericCode: number
  readonly headers: Readonly<Record<string, string>>
  constructor(
    status: number,
    errorCode: string,
    numericCode: number,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message)
    this.status = status
    this.errorCode = errorCode
    this.numericCode = numericCode
    this.headers = headers
  }
}

/** Each hub error code's answer; any other `SasTokenError` is a 400 `ArgumentInvalid`. */
const ERRORS: Readonly<Record<string, readonly [number, string, number]>> = {
  ERR_HUB_NOT_FOUND: [404, 'DeviceNotFound', 404001],
  ERR_HUB_CONFLICT: [409, 'DeviceAlreadyExists', 409001],
  ERR_HUB_PRECONDITION_FAILED: [412, 'PreconditionFailed', 412002],
  ERR_HUB_QUEUE_FULL: [403, 'DeviceMaximumQueueDepthExceeded', 403004],
  ERR_HUB_DEVICE_NOT_ONLINE: [404, 'DeviceNotOnline', 404103],
  ERR_HUB_METHOD_TIMEOUT: [504, 'GatewayTimeout', 504101],
  ERR_HUB_CLOSED: [503, 'ServiceUnavailable', 503001],
  ERR_HUB_STATE_IO: [507, 'InsufficientStorage', 507001],
  ERR_HUB_UNAUTHORIZED: [401, 'IotHubUnauthorizedAccess', 401002],
  ERR_HUB_TOO_MANY_DEVICES: [413, 'TooManyDevices', 413002],
  ERR_HUB_THROTTLED: [429, 'IotHubThrottled', 429001],
  ERR_HUB_QUOTA_EXCEEDED: [403, 'IotHubQuotaExceeded', 403002],
  ERR_HUB_FAULT_REFUSED: [401, 'IotHubUnauthorizedAccess', 401002],
}

/** A 400 `ArgumentInvalid`. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, 'ArgumentInvalid', 400004, message)
}

/** A 413 `MessageTooLarge` (IoT Hub's 413001): a request or message over IoT Hub's limit. */
export function messageTooLarge(message: string): HttpError {
  return new HttpError(413, 'MessageTooLarge', 413001, message)
}

/** A 412 `DeviceMessageLockLost` (412002): a C2D answer whose lock expired, was answered or is not the device's. */
export function lockLost(message: string): HttpError {
  return new HttpError(412, 'DeviceMessageLockLost', 412002, message)
}

/** Any failure as IoT Hub's answer; one that is not the hub's own is a 500 that says nothing of it. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err
  if (isSasTokenError(err)) {
    const mapped = ERRORS[err.code]
    const retry = err.facts.retryAfterSeconds
    const headers: Record<string, string> = typeof retry === 'number' ? { 'retry-after': String(retry) } : {}
    return mapped
      ? new HttpError(mapped[0], mapped[1], mapped[2], err.message, headers)
      : badRequest(err.message)
  }
  return new HttpError(500, 'ServerError', 500001, 'Internal error in the emulator.')
}

/**
 * Writes a JSON answer (a `Buffer` as it is, an empty one for `undefined`), unless an answer has
 * begun.
 */
export function writeBody(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) {
    res.end()
    return
  }
  const raw = Buffer.isBuffer(body)
  const text = raw ? body : body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, {
    ...(body === undefined
      ? {}
      : { 'Content-Type': raw ? 'application/octet-stream' : 'application/json; charset=utf-8' }),
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  })
  res.end(text)
}

/** Writes IoT Hub's error body. */
export function writeError(res: ServerResponse, err: HttpError): void {
  writeBody(
    res,
    err.status,
    {
      Message: `ErrorCode:${err.errorCode};${err.message}`,
      ExceptionMessage: `Tracking ID:sas-token-hub-G:0-TimeStamp:${new Date().toISOString()}`,
      errorCode: err.numericCode,
      code: err.errorCode,
    },
    err.headers,
  )
}
