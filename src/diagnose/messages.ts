/**
 * The message of every finding, keyed by its code: the one table `diagnoseConnect`, the hub's
 * refusals (which are its findings) and `sas-token doctor` all print from. Each entry takes the
 * facts its text needs, typed per code in {@link MessageArgs}, and never a secret: the checks
 * pass it what they concluded, not the password or a key.
 *
 * @module
 */
import { DEFAULT_API_VERSION, DPS_API_VERSION } from '../mqtt/credentials.js'
import type { DiagnosisCode } from './findings.js'
import { iso, quote, span } from './text.js'

/** The IoT Hub username, as the messages write it. */
export const HUB_USERNAME = `{hub}/{deviceId}/?api-version=${DEFAULT_API_VERSION} (a module: {hub}/{deviceId}/{moduleId}/?api-version=${DEFAULT_API_VERSION})`
/** The DPS username, as the messages write it. */
export const DPS_USERNAME = `{idScope}/registrations/{registrationId}/api-version=${DPS_API_VERSION}`

/** A message that needs no facts. */
type None = Record<string, never>

/** What each code's message is written from. */
export interface MessageArgs {
  ERR_USERNAME_MISSING: None
  ERR_USERNAME_MALFORMED:
    | { shape: 'dps' }
    | { shape: 'ids'; ids: number }
    | { shape: 'host'; problem: string }
    | { shape: 'no-slash' }
  ERR_USERNAME_QUESTION_MARK_MISSING: None
  ERR_USERNAME_API_VERSION_MISSING: { dps: boolean }
  WARN_USERNAME_API_VERSION_UNKNOWN: { dps: boolean; apiVersion: string }
  ERR_USERNAME_HOST_MISMATCH: { hostName: string; hub: string }
  WARN_USERNAME_GATEWAY_HOST: { gateway: string; hub: string }
  ERR_ID_SCOPE_MISMATCH: { idScope: string; expected: string }
  /** The core check's own message. */
  ERR_IDENTIFIER_INVALID: { problem: string }
  WARN_MODEL_ID_NOT_DTMI: { modelId: string }
  ERR_CLIENT_ID_MISMATCH: { clientId: string | undefined; identity: string; hub: boolean }
  ERR_IDENTITY_MISMATCH: { identity: string; named: string }
  ERR_IDENTITY_NOT_FOUND: { deviceId: string; moduleId: string | undefined }
  ERR_DEVICE_DISABLED: { deviceId: string; module: boolean }
  ERR_ENROLLMENT_NOT_FOUND: { registrationId: string; groups: number }
  ERR_ENROLLMENT_DISABLED: { registrationId: string }
  ERR_PASSWORD_MISSING: None
  ERR_PASSWORD_NOT_SAS_TOKEN:
    | { looks: 'empty' | 'connection-string' | 'bare-key' }
    | { looks: 'other'; reason: string }
  ERR_X509_WITH_PASSWORD: None
  ERR_IDENTITY_NOT_X509: { what: string }
  ERR_CLIENT_CERTIFICATE_MISSING: { what: string }
  ERR_THUMBPRINT_MISMATCH: { what: string }
  /** The TLS layer's own message, for each chain check. */
  ERR_X509_NO_CA_REGISTERED: { message: string }
  ERR_X509_CA_NOT_VERIFIED: { message: string }
  ERR_X509_CHAIN_UNTRUSTED: { message: string }
  ERR_X509_CERT_EXPIRED: { message: string }
  ERR_X509_CERT_NOT_YET_VALID: { message: string }
  ERR_X509_CN_MISMATCH: { message: string }
  ERR_TOKEN_FOR_DPS: { idScope: string; hostName: string; deviceId: string }
  ERR_TOKEN_FOR_HUB: { policy: boolean; resourceUri: string; expected: string }
  ERR_TOKEN_HOST_MISMATCH: { tokenHost: string; host: string; hubKnown: boolean; want: string }
  ERR_TOKEN_OTHER_DEVICE: { deviceId: string; target: string; want: string }
  ERR_TOKEN_OTHER_MODULE: { moduleId: string; target: string; want: string }
  ERR_TOKEN_DEVICE_FOR_MODULE: { deviceId: string; want: string }
  ERR_TOKEN_MODULE_FOR_DEVICE: { deviceId: string; moduleId: string; want: string }
  ERR_TOKEN_OTHER_REGISTRATION: { registrationId: string; target: string; expected: string }
  ERR_TOKEN_RESOURCE_MISMATCH:
    | { of: 'hub'; resourceUri: string; want: string }
    | { of: 'dps-scope'; idScope: string; target: string; expected: string }
    | { of: 'dps-segments'; expected: string }
  ERR_DPS_KEY_NAME: { keyName: string }
  WARN_POLICY_TOKEN: { keyName: string }
  ERR_POLICY_TOKEN_SCOPE: { keyName: string; resourceUri: string; expected: string }
  ERR_POLICY_UNKNOWN: { keyName: string; hint: 'registration' | 'none' | { near: string } }
  ERR_HUB_UNAUTHORIZED: { why: string }
  ERR_POLICY_NO_DEVICE_CONNECT: { keyName: string }
  ERR_TOKEN_SIGNATURE_MISMATCH: None
  ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB: None
  ERR_TOKEN_SIGNED_WITH_GROUP_KEY: { enrollmentGroupId: string | undefined }
  ERR_TOKEN_EXPIRED: {
    expiresAt: number
    ago: number
    skew: number
    clock: 'unset' | 'behind' | { hoursOff: number } | 'none'
  }
  WARN_TOKEN_EXPIRED_WITHIN_SKEW: { expiresIn: number; skew: number }
  WARN_TOKEN_EXPIRY_IN_MILLISECONDS: { expiresAt: number }
  WARN_TOKEN_EXPIRY_FAR_AHEAD: { expiresAt: number; expiresIn: number }
  WARN_TOKEN_EXPIRES_BEFORE_RENEWAL: { expiresIn: number; renewAfter: number }
}

/** Every code's message. */
export const MESSAGES: { readonly [C in DiagnosisCode]: (a: MessageArgs[C]) => string } = {
  // the username
  ERR_USERNAME_MISSING: () =>
    `The CONNECT has no username: send ${HUB_USERNAME}, or for DPS ${DPS_USERNAME}.`,
  ERR_USERNAME_MALFORMED: (a) => {
    switch (a.shape) {
      case 'dps':
        return `The DPS username is malformed: write it as ${DPS_USERNAME}.`
      case 'ids':
        return `The username is malformed: ${
          a.ids > 2
            ? `it has ${a.ids} ids after the host name, at most 2 (device and module)`
            : 'it needs a host name and a device id'
        }; write it as ${HUB_USERNAME}.`
      case 'host':
        return `${a.problem} Write the username as ${HUB_USERNAME}.`
      case 'no-slash':
        return `The username needs a '/' between the identity and '?': write it as ${HUB_USERNAME}.`
    }
  },
  ERR_USERNAME_QUESTION_MARK_MISSING: () =>
    `The username has no '?' before its parameters (an old form): write it as ${HUB_USERNAME}; modules and newer features need the '?'.`,
  ERR_USERNAME_API_VERSION_MISSING: (a) =>
    `The username has no api-version: write it as ${a.dps ? DPS_USERNAME : HUB_USERNAME}. ${a.dps ? 'DPS requires it' : 'Without it the hub may connect, but twin updates fail (400) and IoT Edge refuses the connection'}.`,
  WARN_USERNAME_API_VERSION_UNKNOWN: (a) => {
    const version = a.dps ? DPS_API_VERSION : DEFAULT_API_VERSION
    return `The username's api-version ${quote(a.apiVersion)} is no api-version (a date such as ${version}): ${a.dps ? 'DPS' : 'the hub'} does not check its value at CONNECT, but the features of a version depend on it; use ${version}.`
  },
  ERR_USERNAME_HOST_MISMATCH: (a) =>
    `The username's host ${quote(a.hostName)} is not this hub's, ${a.hub}: start the username with ${a.hub}/ (the connection string's HostName).`,
  WARN_USERNAME_GATEWAY_HOST: (a) =>
    `The username names the gateway ${a.gateway}, not the hub ${a.hub}: the C# SDK does this and IoT Edge accepts it, but the other SDKs send the hub's host name; prefer ${a.hub}.`,
  ERR_ID_SCOPE_MISMATCH: (a) =>
    `The username's ID scope ${quote(a.idScope)} is not this DPS's, ${a.expected}: copy the ID scope from the DPS overview.`,
  ERR_IDENTIFIER_INVALID: (a) => a.problem,
  WARN_MODEL_ID_NOT_DTMI: (a) =>
    `The username's model-id ${quote(a.modelId)} is not a DTMI: the hub connects the device, but IoT Plug and Play tools find no model for it; use the form dtmi:com:example:Thermostat;1 (percent-encoded in the username), or leave model-id out.`,

  // the client id and the identity
  ERR_CLIENT_ID_MISMATCH: (a) =>
    `${a.clientId === undefined || a.clientId === '' ? 'The clientId is empty and' : `The clientId ${quote(a.clientId)}`} is not the identity the username names: set the clientId to ${quote(a.identity)} (it is compared exactly, case-sensitively${a.hub ? '; a module sends {deviceId}/{moduleId}' : ''}).`,
  ERR_IDENTITY_MISMATCH: (a) =>
    `The CONNECT is for ${quote(a.identity)}, but the connection string is for ${a.named}: connect as ${a.named}, or use that identity's connection string.`,

  // what the registry knows
  ERR_IDENTITY_NOT_FOUND: (a) =>
    `There is no ${a.moduleId === undefined ? `device ${a.deviceId}` : `module ${a.deviceId}/${a.moduleId}`} in this hub's registry: add it first (sas-token hub devices add ${a.moduleId === undefined ? a.deviceId : `${a.deviceId} --module ${a.moduleId}`}).`,
  ERR_DEVICE_DISABLED: (a) =>
    `Device ${quote(a.deviceId)} is disabled in the registry${a.module ? ', and with it its modules' : ''}: enable it first.`,
  ERR_ENROLLMENT_NOT_FOUND: (a) =>
    a.groups === 0
      ? `There is no enrollment for the registration id ${quote(a.registrationId)}, and no enabled enrollment group: create an individual enrollment for it, or an enrollment group and sign with the key derived from the group's.`
      : `There is no individual enrollment for the registration id ${quote(a.registrationId)}, and the token is signed with no key derived from the ${a.groups === 1 ? "enabled enrollment group's keys" : `${a.groups} enabled enrollment groups' keys`}: create an enrollment for ${quote(a.registrationId)}, or sign with deriveDeviceKey(groupKey, ${quote(a.registrationId)}) (\`sas-token derive-key\`).`,
  ERR_ENROLLMENT_DISABLED: (a) =>
    `The enrollment of ${quote(a.registrationId)} is disabled: enable it to register.`,

  // the password, or the client certificate
  ERR_PASSWORD_MISSING: () =>
    'The CONNECT has no password: a device with a symmetric key sends a SAS token (SharedAccessSignature sr=…&sig=…&se=…) as the password. (An X.509 device sends none; then this identity must be registered with a certificate.)',
  ERR_PASSWORD_NOT_SAS_TOKEN: (a) => {
    const reason = a.looks === 'other' ? a.reason.trim() : ''
    const why =
      a.looks === 'empty'
        ? 'The password is empty.'
        : a.looks === 'connection-string'
          ? 'The password is a connection string, not a token.'
          : a.looks === 'bare-key'
            ? 'The password looks like a bare key, not a token.'
            : `The password is not a SAS token. ${reason}${/[.!?]$/.test(reason) ? '' : '.'}`
    return `${why} The password must be a SAS token, SharedAccessSignature sr=…&sig=…&se=…, signed with the identity's key (\`sas-token generate\`).`
  },
  ERR_X509_WITH_PASSWORD: () =>
    'This identity authenticates with an X.509 certificate, yet the CONNECT sends a password: send no password, and present the client certificate in the TLS handshake.',
  ERR_IDENTITY_NOT_X509: (a) =>
    `The CONNECT presents a client certificate and no password, but ${a.what} is registered with symmetric keys, not X.509: send a SAS token as the password, or register it with the certificate's thumbprint (or as CA-signed).`,
  ERR_CLIENT_CERTIFICATE_MISSING: (a) =>
    `${a.what} uses X.509, but the TLS handshake presented no client certificate: connect with the device's certificate and key (mqtt.js: key, cert; mosquitto: --cert, --key).`,
  ERR_THUMBPRINT_MISMATCH: (a) =>
    `The client certificate's thumbprint is not the primary or secondary thumbprint registered for ${a.what}: register this certificate's SHA-1 or SHA-256 thumbprint, or connect with the registered one.`,
  ERR_X509_NO_CA_REGISTERED: (a) => a.message,
  ERR_X509_CA_NOT_VERIFIED: (a) => a.message,
  ERR_X509_CHAIN_UNTRUSTED: (a) => a.message,
  ERR_X509_CERT_EXPIRED: (a) => a.message,
  ERR_X509_CERT_NOT_YET_VALID: (a) => a.message,
  ERR_X509_CN_MISMATCH: (a) => a.message,

  // the token's resource
  ERR_TOKEN_FOR_DPS: (a) =>
    `The password is a DPS registration token (sr=${a.idScope}/registrations/…), which DPS accepts and the hub does not: after provisioning, sign a token for ${a.hostName}/devices/${a.deviceId} with the device key (for a group enrollment, the derived key).`,
  ERR_TOKEN_FOR_HUB: (a) =>
    `The password is ${a.policy ? 'a hub policy token' : 'an IoT Hub token'} (sr=${quote(a.resourceUri)}), but this is a DPS registration: sign sr=${quote(a.expected)} with skn=registration and the enrollment's key (for a group, the derived key).`,
  ERR_TOKEN_HOST_MISMATCH: (a) =>
    `The token is for the host ${quote(a.tokenHost)}, but the ${a.hubKnown ? 'hub is' : 'username names'} ${quote(a.host)}: sign the token for ${a.want}.`,
  ERR_TOKEN_OTHER_DEVICE: (a) =>
    `The token is for another device, ${quote(a.deviceId)}, not ${quote(a.target)}: sign it with ${quote(a.target)}'s key for ${a.want}.`,
  ERR_TOKEN_OTHER_MODULE: (a) =>
    `The token is for another module, ${quote(a.moduleId)}, not ${quote(a.target)}: sign it with that module's key for ${a.want}.`,
  ERR_TOKEN_DEVICE_FOR_MODULE: (a) =>
    `The token is the device's (sr ends in /devices/${a.deviceId}), but a module connects: sign it with the module's key for ${a.want}.`,
  ERR_TOKEN_MODULE_FOR_DEVICE: (a) =>
    `The token is for the module ${quote(a.moduleId)}, but the device itself connects: sign it with the device's key for ${a.want}, or connect as the module (clientId ${a.deviceId}/${a.moduleId}).`,
  ERR_TOKEN_OTHER_REGISTRATION: (a) =>
    `The token is for another registration, ${quote(a.registrationId)}, not ${quote(a.target)}: sign sr=${quote(a.expected)} (the registration id of the token, username, clientId and request must agree).`,
  ERR_TOKEN_RESOURCE_MISMATCH: (a) => {
    switch (a.of) {
      case 'hub':
        return `The token is for ${quote(a.resourceUri)}, which is no device or module; a token without skn must be for exactly ${a.want} (modules: …/devices/{deviceId}/modules/{moduleId}).`
      case 'dps-scope':
        return `The token is for the ID scope ${quote(a.idScope)}, but the username names ${quote(a.target)}: sign sr=${quote(a.expected)}.`
      case 'dps-segments':
        return `The token's resource has extra segments: sign exactly sr=${quote(a.expected)}.`
    }
  },
  ERR_DPS_KEY_NAME: (a) =>
    `The DPS token's skn is ${quote(a.keyName)}: a device registers with skn=registration and its enrollment key, not a service policy.`,

  // policy tokens
  WARN_POLICY_TOKEN: (a) =>
    `The password is a token of the policy ${a.keyName}, which has DeviceConnect, so the hub accepts it; but it puts a hub-wide key on the device: sign a device token with the device's own key instead.`,
  ERR_POLICY_TOKEN_SCOPE: (a) =>
    `The password is a policy token (skn=${quote(a.keyName)}) for ${quote(a.resourceUri)}, which does not cover ${a.expected}: scope it to ${a.expected} (or the hub), or better, use a device token.`,
  ERR_POLICY_UNKNOWN: (a) =>
    `The password is a policy token, but this hub has no policy ${quote(a.keyName)}${
      a.hint === 'registration'
        ? ' (skn=registration belongs to DPS tokens)'
        : a.hint === 'none'
          ? ''
          : ` (did you mean ${a.hint.near}? policy names are case-sensitive)`
    }: use a device token signed with the device's key.`,
  ERR_POLICY_NO_DEVICE_CONNECT: (a) =>
    `The password is a token of the policy ${a.keyName}, which lacks the DeviceConnect permission: use a device token signed with the device's key (or a policy with DeviceConnect, such as device).`,
  ERR_HUB_UNAUTHORIZED: (a) => a.why,

  // the signature
  ERR_TOKEN_SIGNATURE_MISMATCH: () =>
    "The signature does not match the key: the token was signed with another key (the other of primary and secondary? another identity's? a regenerated one?), or sr was changed after signing. Sign again with the identity's current key.",
  ERR_TOKEN_KEY_TEXT_FOR_IOT_HUB: () =>
    "The token was signed with the identity's key used as text, as Event Hubs and Service Bus sign; IoT Hub and DPS sign with the key's base64-decoded bytes. Sign again with an IoT Hub signer (sas-token generate, createSasToken).",
  ERR_TOKEN_SIGNED_WITH_GROUP_KEY: (a) =>
    `The token was signed with the enrollment group${a.enrollmentGroupId === undefined ? "'s" : ` ${a.enrollmentGroupId}'s`} key itself, which never signs a token: derive the device's key first, base64(HMAC-SHA256(groupKey, registrationId)) (\`sas-token derive-key\`), and sign with that.`,

  // the expiry
  ERR_TOKEN_EXPIRED: (a) => {
    const clock =
      a.clock === 'unset'
        ? ` The expiry is in ${new Date(a.expiresAt * 1000).getUTCFullYear()}: the device's clock looks unset (it counts from 1970 after a reset); set it with NTP or SNTP before signing.`
        : a.clock === 'behind'
          ? ' Device clock? An expiry only minutes off usually means the clock that signed the token is behind, or the token was signed earlier and kept.'
          : a.clock === 'none'
            ? ''
            : ` Off by about ${a.clock.hoursOff} hour(s): does the device compute the expiry from local time instead of UTC?`
    return `The token expired at ${iso(a.expiresAt)}, ${span(a.ago)} ago (the hub allows ${a.skew} s of clock skew): sign a new one right before connecting.${clock}`
  },
  WARN_TOKEN_EXPIRED_WITHIN_SKEW: (a) =>
    `The token expired ${span(-a.expiresIn)} ago and is accepted only within the ${a.skew} s of clock skew the hub allows; it will be refused in ${span(a.expiresIn + a.skew)}. Device clock? Sign a new token right before connecting.`,
  WARN_TOKEN_EXPIRY_IN_MILLISECONDS: (a) =>
    `The token's se (${a.expiresAt}) is in milliseconds: se is seconds since 1970, so the hub reads a token that never expires, and a leaked one works forever. Divide by 1000 (Math.floor(Date.now() / 1000) + ttl).`,
  WARN_TOKEN_EXPIRY_FAR_AHEAD: (a) =>
    `The token expires ${iso(a.expiresAt)}, in ${span(a.expiresIn)}: if a short TTL was meant, the clock that signed it is ahead (device clock?) or the TTL has the wrong unit; if it was meant, a token this long-lived is as good as a key when it leaks.`,
  WARN_TOKEN_EXPIRES_BEFORE_RENEWAL: (a) =>
    `The token expires in ${span(a.expiresIn)}, before the device renews it (after ${span(a.renewAfter)}): the hub disconnects the device when the token expires. Sign tokens that outlive the renewal, or renew sooner.`,
}
