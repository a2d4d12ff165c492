/**
 * A token sent to IoT Hub: what it is for (the identity, a module, another device, DPS, a policy
 * and its scope and rights), and the keys that must have signed it.
 *
 * @module
 */
import { DPS_KEY_NAME, deviceResourceUri, resourceCovers, type ParsedSasToken } from '../sas-token.js'
import { derivedKey } from './dps-token.js'
import { type DiagnosisCode, type Finding, fact, finding, quote } from './findings.js'
import { isHub } from './identity.js'
import type { Context } from './options.js'
import { type Candidate, candidates } from './registry.js'
import type { Target } from './username.js'

/** The checks of a token sent to the hub, by what it is for; returns the keys to verify it with. */
export function checkHubToken(
  token: ParsedSasToken,
  target: Extract<Target, { kind: 'hub' }>,
  identityKeys: readonly Candidate[] | undefined,
  ctx: Context,
  out: Finding[],
): readonly Candidate[] | undefined {
  const resourceUri = fact(token.resourceUri)
  if (token.idScope !== undefined) {
    out.push(
      finding(
        'ERR_TOKEN_FOR_DPS',
        `The password is a DPS registration token (sr=${token.idScope}/registrations/…), which DPS accepts and the hub does not: after provisioning, sign a token for ${target.hostName}/devices/${target.deviceId} with the device key (for a group enrollment, the derived key).`,
        { resourceUri, ...(token.keyName !== undefined && { keyName: fact(token.keyName) }) },
      ),
    )
    return undefined
  }
  // The token names the hub, even when the username names a gateway (or the wrong host).
  const tokenHost = ctx.hubHostName ?? target.hostName
  const expected = target.valid ? deviceResourceUri(tokenHost, target.deviceId, target.moduleId) : undefined
  const cs = ctx.cs
  if (token.keyName !== undefined) {
    const keyName = token.keyName
    const facts = {
      resourceUri,
      keyName: fact(keyName),
      ...(expected !== undefined && { expectedResourceUri: expected }),
    }
    const covers = expected !== undefined && resourceCovers(token.resourceUri, expected, true)
    if (expected !== undefined && !covers) {
      out.push(
        finding(
          'ERR_POLICY_TOKEN_SCOPE',
          `The password is a policy token (skn=${quote(keyName)}) for ${quote(token.resourceUri)}, which does not cover ${expected}: scope it to ${expected} (or the hub), or better, use a device token.`,
          facts,
        ),
      )
    }
    const policy = Object.hasOwn(ctx.policies, keyName) ? ctx.policies[keyName] : undefined
    if (policy === undefined) {
      const near = Object.keys(ctx.policies).find((name) => name.toLowerCase() === keyName.toLowerCase())
      const hint =
        keyName === DPS_KEY_NAME
          ? ' (skn=registration belongs to DPS tokens)'
          : near !== undefined
            ? ` (did you mean ${near}? policy names are case-sensitive)`
            : ''
      out.push(
        finding(
          'ERR_POLICY_UNKNOWN',
          `The password is a policy token, but this hub has no policy ${quote(keyName)}${hint}: use a device token signed with the device's key.`,
          facts,
        ),
      )
    } else if (!policy.deviceConnect) {
      out.push(
        finding(
          'ERR_POLICY_NO_DEVICE_CONNECT',
          `The password is a token of the policy ${keyName}, which lacks the DeviceConnect permission: use a device token signed with the device's key (or a policy with DeviceConnect, such as device).`,
          facts,
        ),
      )
    } else if (covers) {
      out.push(
        finding(
          'WARN_POLICY_TOKEN',
          `The password is a token of the policy ${keyName}, which has DeviceConnect, so the hub accepts it; but it puts a hub-wide key on the device: sign a device token with the device's own key instead.`,
          facts,
        ),
      )
    }
    const policyKey = policy?.key ?? (cs?.sharedAccessKeyName === keyName ? cs.sharedAccessKey : undefined)
    return candidates(
      policyKey === undefined ? ctx.keys : typeof policyKey === 'string' ? [policyKey] : policyKey,
    )
  }

  // A device or module token: sr must be exactly {host}/devices/{deviceId}[/modules/{moduleId}].
  const found = (code: DiagnosisCode, message: string): void => {
    out.push(
      finding(code, message, {
        resourceUri,
        ...(expected !== undefined && { expectedResourceUri: expected }),
      }),
    )
  }
  const want = expected ?? 'the identity in the username'
  const [, devices, deviceId = '', modules, moduleId] = token.resourceUri.split('/')
  const segments = token.resourceUri.split('/').length
  const isDevice = segments === 3 && devices === 'devices' && deviceId !== ''
  const isModule =
    segments === 5 && devices === 'devices' && deviceId !== '' && modules === 'modules' && moduleId !== ''
  if (token.hostName !== undefined && !isHub(token.hostName, tokenHost, ctx)) {
    found(
      'ERR_TOKEN_HOST_MISMATCH',
      `The token is for the host ${quote(token.hostName)}, but the ${ctx.hubHostName === undefined ? 'username names' : 'hub is'} ${quote(tokenHost)}: sign the token for ${want}.`,
    )
  }
  if (!isDevice && !isModule) {
    found(
      'ERR_TOKEN_RESOURCE_MISMATCH',
      `The token is for ${quote(token.resourceUri)}, which is no device or module; a token without skn must be for exactly ${want} (modules: …/devices/{deviceId}/modules/{moduleId}).`,
    )
  } else if (deviceId !== target.deviceId) {
    found(
      'ERR_TOKEN_OTHER_DEVICE',
      `The token is for another device, ${quote(deviceId)}, not ${quote(target.deviceId)}: sign it with ${quote(target.deviceId)}'s key for ${want}.`,
    )
  } else if (isDevice && target.moduleId !== undefined) {
    found(
      'ERR_TOKEN_DEVICE_FOR_MODULE',
      `The token is the device's (sr ends in /devices/${deviceId}), but a module connects: sign it with the module's key for ${want}.`,
    )
  } else if (isModule && target.moduleId === undefined) {
    found(
      'ERR_TOKEN_MODULE_FOR_DEVICE',
      `The token is for the module ${quote(moduleId ?? '')}, but the device itself connects: sign it with the device's key for ${want}, or connect as the module (clientId ${deviceId}/${moduleId ?? ''}).`,
    )
  } else if (isModule && moduleId !== target.moduleId) {
    found(
      'ERR_TOKEN_OTHER_MODULE',
      `The token is for another module, ${quote(moduleId ?? '')}, not ${quote(target.moduleId ?? '')}: sign it with that module's key for ${want}.`,
    )
  }
  const csKey =
    cs !== undefined && cs.kind !== 'service' && cs.sharedAccessKeyName === undefined
      ? cs.sharedAccessKey
      : undefined
  return (
    identityKeys ??
    candidates(ctx.keys ?? (csKey === undefined ? undefined : [csKey]) ?? derivedKey(ctx, target.deviceId))
  )
}
