/**
 * The one error class of the library, and the stable codes it carries.
 *
 * Every failure the library reports is a {@link SasTokenError}. Branch on `code`, never on the
 * message: codes are part of the public contract, messages may be reworded. Messages say what
 * is wrong and how to fix it, and never contain a key or a signature.
 *
 * @module
 */

/** The codes the core's own functions raise. */
export type CoreErrorCode =
  // connection strings
  | 'ERR_CONNECTION_STRING_EMPTY'
  | 'ERR_CONNECTION_STRING_SYNTAX'
  | 'ERR_CONNECTION_STRING_UNKNOWN_KEY'
  | 'ERR_CONNECTION_STRING_DUPLICATE_KEY'
  | 'ERR_CONNECTION_STRING_EMPTY_VALUE'
  | 'ERR_CONNECTION_STRING_MISSING_KEY'
  | 'ERR_CONNECTION_STRING_MIXED_AUTH'
  | 'ERR_CONNECTION_STRING_TOKEN_MISMATCH'
  | 'ERR_CONNECTION_STRING_UNSUPPORTED'
  | 'ERR_CONNECTION_STRING_MIXED_FAMILY'
  // identities, hosts and keys
  | 'ERR_INVALID_IDENTIFIER'
  | 'ERR_INVALID_HOST_NAME'
  | 'ERR_INVALID_KEY'
  | 'ERR_INVALID_KEY_NAME'
  | 'ERR_INVALID_RESOURCE_URI'
  | 'ERR_INVALID_ENTITY_PATH'
  | 'ERR_KEY_REQUIRED'
  | 'ERR_DEVICE_ID_REQUIRED'
  // expiry
  | 'ERR_INVALID_EXPIRY'
  | 'ERR_EXPIRY_IN_PAST'
  | 'ERR_EXPIRY_IN_MILLISECONDS'
  | 'ERR_INVALID_TTL'
  | 'ERR_INVALID_NOW'
  // tokens
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_SIGNATURE_MISMATCH'
  | 'ERR_TOKEN_RESOURCE_MISMATCH'
  | 'ERR_TOKEN_KEY_DECODED_FOR_SERVICE_BUS'
  | 'ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB'
  // arguments and options
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_IDENTITY_MISMATCH'
  | 'ERR_EXPIRY_CONFLICT'
  | 'ERR_INVALID_RENEW_BEFORE'
  | 'ERR_INVALID_OPTION'
  // MQTT
  | 'ERR_PROPERTY_NAME_RESERVED'
  | 'ERR_INVALID_PROPERTY'
  | 'ERR_TOPIC_TOO_LONG'
  | 'ERR_TOPIC_UNKNOWN'
  | 'ERR_TOPIC_MALFORMED'
  // renewal
  | 'ERR_TOKEN_SOURCE_STOPPED'

/**
 * The codes other layers add to {@link SasTokenErrorCode}: the hub's (`HubErrorCode`, in
 * `sas-token/hub`) and the CLI's, each declared in its own layer.
 *
 * A layer declares its codes by augmenting this interface, one property per code:
 *
 * ```ts
 * declare module '../errors.js' {
 *   interface LayerErrorCodes extends HubErrorCodes {}
 * }
 * ```
 *
 * The core declares none, so `import 'sas-token'` alone sees only {@link CoreErrorCode}.
 */
// biome-ignore lint/suspicious/noEmptyInterface: the layers augment it; the core adds nothing.
export interface LayerErrorCodes {}

/**
 * Every code a {@link SasTokenError} can carry: the core's ({@link CoreErrorCode}) and those the
 * layers you import declare ({@link LayerErrorCodes}).
 */
export type SasTokenErrorCode = CoreErrorCode | Extract<keyof LayerErrorCodes, `ERR_${string}`>

/**
 * The error every function of the library throws on bad input.
 *
 * @example
 * ```ts
 * try {
 *   parseConnectionString(text)
 * } catch (err) {
 *   if (err instanceof SasTokenError && err.code === 'ERR_INVALID_KEY') …
 * }
 * ```
 */
export class SasTokenError extends Error {
  /** A stable `ERR_*` code; see {@link SasTokenErrorCode}. */
  readonly code: SasTokenErrorCode
  /**
   * The facts the message reports, as data: the option or field at fault (`option`, `field`),
   * the expiry (`expiresAt`, epoch seconds), a limit (`limit`), what was given (`given`: a type
   * name, never a value that could hold a secret).
   */
  readonly facts: Readonly<Record<string, string | number | boolean>>

  constructor(code: SasTokenErrorCode, message: string, options?: SasTokenErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SasTokenError'
    this.code = code
    this.facts = options?.facts ?? {}
  }
}

/** The options of a {@link SasTokenError}: its cause and its facts. */
export interface SasTokenErrorOptions {
  /** The error that led to this one, as `Error.cause`. */
  cause?: unknown
  /** The facts the error reports (the field, the limit, the expiry…), copied onto the error as fields. */
  facts?: Record<string, string | number | boolean>
}

/** `true` when `value` is a {@link SasTokenError}, optionally with the given code. */
export function isSasTokenError(value: unknown, code?: SasTokenErrorCode): value is SasTokenError {
  return value instanceof SasTokenError && (code === undefined || value.code === code)
}
