/**
 * A token sent to IoT Hub: what it is for (the identity, a module, another device, DPS, a policy
 * and its scope and rights), and the keys that must have signed it.
 *
 * @module
 */
import { DPS_KEY_NAME, deviceResourceUri, resourceCovers, type ParsedSasToken } from '../sas-token.js'
import { derivedKey } from './dps-token.js'
import { type DiagnosisCode, type Finding, finding } from './findings.js'
import { isHub } from './identity.js'
import type { MessageArgs } from './messages.js'
import type { Context } from './options.js'
import { type Candidate, candidates } from './registry.js'
import { fact } from './text.js'
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
        { idScope: token.idScope, hostName: target.hostName, deviceId: target.deviceId },
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
        finding('ERR_POLICY_TOKEN_SCOPE', { keyName, resourceUri: token.resourceUri, expected }, facts),
      )
    }
    const policy = Object.hasOwn(ctx.policies, keyName) ? ctx.policies[keyName] : undefined
    if (policy === undefined) {
      const near = Object.keys(ctx.policies).find((name) => name.toLowerCase() === keyName.toLowerCase())
      const hint = keyName === DPS_KEY_NAME ? 'registration' : near !== undefined ? { near } : 'none'
      out.push(finding('ERR_POLICY_UNKNOWN', { keyName, hint }, facts))
    } else if (!policy.deviceConnect) {
      out.push(finding('ERR_POLICY_NO_DEVICE_CONNECT', { keyName }, facts))
    } else if (covers) {
      out.push(finding('WARN_POLICY_TOKEN', { keyName }, facts))
    }
    const policyKey = policy?.key ?? (cs?.sharedAccessKeyName === keyName ? cs.sharedAccessKey : undefined)
    return candidates(
      policyKey === undefined ? ctx.keys : typeof policyKey === 'string' ? [policyKey] : policyKey,
    )
  }

  // A device or module token: sr must be exactly {host}/devices/{deviceId}[/modules/{moduleId}].
  const found = <C extends DiagnosisCode>(code: C, args: MessageArgs[C]): void => {
    out.push(
      finding(code, args, {
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
    found('ERR_TOKEN_HOST_MISMATCH', {
      tokenHost: token.hostName,
      host: tokenHost,
      hubKnown: ctx.hubHostName !== undefined,
      want,
    })
  }
  if (!isDevice && !isModule) {
    found('ERR_TOKEN_RESOURCE_MISMATCH', { of: 'hub', resourceUri: token.resourceUri, want })
  } else if (deviceId !== target.deviceId) {
    found('ERR_TOKEN_OTHER_DEVICE', { deviceId, target: target.deviceId, want })
  } else if (isDevice && target.moduleId !== undefined) {
    found('ERR_TOKEN_DEVICE_FOR_MODULE', { deviceId, want })
  } else if (isModule && target.moduleId === undefined) {
    found('ERR_TOKEN_MODULE_FOR_DEVICE', { deviceId, moduleId: moduleId ?? '', want })
  } else if (isModule && moduleId !== target.moduleId) {
    found('ERR_TOKEN_OTHER_MODULE', { moduleId: moduleId ?? '', target: target.moduleId ?? '', want })
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
