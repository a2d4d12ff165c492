/**
 * The rules for the names that identify a device: device and module ids, DPS registration ids,
 * ID scopes and host names.
 *
 * Ids go into MQTT topics, usernames and client ids raw, so a character the hub or MQTT gives
 * a meaning to (`+` and `#` are wildcards, `/` separates topic levels, `;` separates
 * connection-string fields) is refused here, with the reason, before it can cause a 401 or a
 * dropped connection later. Messages name the field and the offending character, never the
 * value: a key pasted into the wrong field must not end up in a log.
 *
 * @module
 */
import { SasTokenError } from './errors.js'

/** The longest device, module or registration id the hub accepts. */
export const MAX_ID_LENGTH = 128

const DEVICE_ID_CHARS = /^[A-Za-z0-9\-.%_*?!(),:=@$']+$/
const REGISTRATION_ID_CHARS = /^[A-Za-z0-9\-._:]+$/
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
/** Every label matches {@link HOST_LABEL}: the common case, checked in one step. */
const HOST_NAME =
  /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** What a rejected character means, for the error message. */
function whyRefused(char: string): string {
  switch (char) {
    case '+':
    case '#':
      return `'${char}' is an MQTT wildcard and cannot appear in a topic`
    case '/':
      return "'/' separates MQTT topic levels and resource-URI segments"
    case ';':
      return "';' separates connection-string fields"
    case '&':
      return "'&' separates token and property-bag fields"
    default:
      if (/\s/.test(char)) return 'whitespace is not allowed'
      if (char.charCodeAt(0) > 0x7f) return 'only 7-bit ASCII is allowed'
      if (char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)
        return 'control characters are not allowed'
      return `'${char}' is not an allowed character`
  }
}

function checkId(id: string, what: string, allowed: RegExp, allowedText: string): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new SasTokenError(
      'ERR_INVALID_IDENTIFIER',
      `${what} is empty: give the id as it is registered in the hub.`,
    )
  }
  if (id.length > MAX_ID_LENGTH) {
    throw new SasTokenError(
      'ERR_INVALID_IDENTIFIER',
      `${what} is ${id.length} characters long; the hub allows at most ${MAX_ID_LENGTH}.`,
    )
  }
  if (!allowed.test(id)) {
    const bad = [...id].find((c) => !allowed.test(c)) ?? ''
    throw new SasTokenError(
      'ERR_INVALID_IDENTIFIER',
      `${what} is not valid: ${whyRefused(bad)}. Allowed: ${allowedText}.`,
    )
  }
  return id
}

/**
 * Checks a device or module id against the hub's rules: at most 128 characters, ASCII letters
 * and digits plus `- . % _ * ? ! ( ) , : = @ $ '`.
 *
 * @param what How to name the id in an error, such as `DeviceId` or `--module-id`.
 * @returns The id, unchanged.
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, with the reason.
 */
export function assertDeviceId(id: string, what = 'DeviceId'): string {
  return checkId(id, what, DEVICE_ID_CHARS, "letters, digits and - . % _ * ? ! ( ) , : = @ $ '")
}

/**
 * Checks a DPS registration id: at most 128 characters, ASCII letters and digits plus `- . _ :`,
 * ending with a letter, a digit or `-`.
 *
 * @returns The id, unchanged.
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`, with the reason.
 */
export function assertRegistrationId(id: string, what = 'registration id'): string {
  checkId(id, what, REGISTRATION_ID_CHARS, 'letters, digits and - . _ :')
  if (/[._:]$/.test(id)) {
    throw new SasTokenError(
      'ERR_INVALID_IDENTIFIER',
      `${what} is not valid: DPS requires it to end with a letter, a digit or '-'.`,
    )
  }
  return id
}

/**
 * Checks a DPS ID scope, such as `0ne00000A0A`.
 *
 * @returns The scope, unchanged.
 * @throws {SasTokenError} `ERR_INVALID_IDENTIFIER`.
 */
export function assertIdScope(idScope: string): string {
  if (typeof idScope !== 'string' || !/^[A-Za-z0-9]{1,64}$/.test(idScope)) {
    throw new SasTokenError(
      'ERR_INVALID_IDENTIFIER',
      'The ID scope is not valid: it is letters and digits only, like 0ne00000A0A (see the DPS overview page).',
    )
  }
  return idScope
}

/**
 * Checks a host name such as `myhub.azure-devices.net`: DNS labels of letters, digits and `-`,
 * separated by dots. A scheme, port or path is refused with a hint, because the hub expects the
 * bare name in both the token and the MQTT username.
 *
 * @returns The host name, unchanged.
 * @throws {SasTokenError} `ERR_INVALID_HOST_NAME`.
 */
export function assertHostName(host: string, what = 'HostName'): string {
  if (typeof host === 'string' && host.length <= 253 && HOST_NAME.test(host)) return host
  if (typeof host !== 'string' || host.length === 0) {
    throw new SasTokenError(
      'ERR_INVALID_HOST_NAME',
      `${what} is empty: give the hub's host name, like myhub.azure-devices.net.`,
    )
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) || /[:/]/.test(host)) {
    throw new SasTokenError(
      'ERR_INVALID_HOST_NAME',
      `${what} is not a bare host name: remove the scheme, port and path (for example myhub.azure-devices.net).`,
    )
  }
  if (host.length > 253 || !host.split('.').every((label) => HOST_LABEL.test(label))) {
    throw new SasTokenError(
      'ERR_INVALID_HOST_NAME',
      `${what} is not a valid host name: use letters, digits, '-' and dots, like myhub.azure-devices.net.`,
    )
  }
  return host
}
