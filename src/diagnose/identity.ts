/**
 * The identity a CONNECT claims: the client id against the username, the username's host
 * against the hub's (and its aliases), the ID scope against the DPS's, and the connection
 * string's identity against them all.
 *
 * @module
 */
import { type Finding, finding } from './findings.js'
import { fact } from './text.js'
import type { Context } from './options.js'
import type { Target } from './username.js'

export const sameHost = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** `host` is the hub's name or one of its aliases (case-insensitively, as DNS names are). */
export const isHub = (host: string, hub: string, ctx: Context): boolean =>
  sameHost(host, hub) || ctx.aliases.some((alias) => sameHost(host, alias))

/**
 * ID scopes are compared case-insensitively, as host names are: DPS assigns them (`0ne…`) and
 * routes on them, and the diagnosis has always read them so.
 */
export const sameIdScope = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase()

/** The hub's host name, the identity and the client id against what the username names. */
export function checkIdentity(target: Target, clientId: unknown, ctx: Context, out: Finding[]): void {
  const identity =
    target.kind === 'dps'
      ? target.registrationId
      : target.moduleId === undefined
        ? target.deviceId
        : `${target.deviceId}/${target.moduleId}`
  if (clientId !== identity) {
    out.push(
      finding(
        'ERR_CLIENT_ID_MISMATCH',
        {
          clientId: typeof clientId === 'string' ? clientId : undefined,
          identity,
          hub: target.kind === 'hub',
        },
        {
          ...(typeof clientId === 'string' && { clientId: fact(clientId) }),
          expectedClientId: fact(identity),
        },
      ),
    )
  }
  if (target.kind === 'dps') {
    if (ctx.idScope !== undefined && !sameIdScope(target.idScope, ctx.idScope)) {
      out.push(
        finding(
          'ERR_ID_SCOPE_MISMATCH',
          { idScope: target.idScope, expected: ctx.idScope },
          { idScope: fact(target.idScope), expectedIdScope: ctx.idScope },
        ),
      )
    }
    return
  }
  const hub = ctx.hubHostName
  if (hub !== undefined && !isHub(target.hostName, hub, ctx)) {
    const gateway = ctx.cs?.gatewayHostName
    out.push(
      gateway !== undefined && sameHost(target.hostName, gateway)
        ? finding(
            'WARN_USERNAME_GATEWAY_HOST',
            { gateway, hub },
            { hostName: fact(target.hostName), expectedHostName: hub },
          )
        : finding(
            'ERR_USERNAME_HOST_MISMATCH',
            { hostName: target.hostName, hub },
            { hostName: fact(target.hostName), expectedHostName: hub },
          ),
    )
  }
  const cs = ctx.cs
  if (
    cs !== undefined &&
    cs.kind !== 'service' &&
    (cs.deviceId !== target.deviceId || cs.moduleId !== target.moduleId)
  ) {
    const named = cs.moduleId === undefined ? `device ${cs.deviceId}` : `module ${cs.deviceId}/${cs.moduleId}`
    out.push(
      finding(
        'ERR_IDENTITY_MISMATCH',
        { identity, named },
        {
          deviceId: fact(target.deviceId),
          ...(target.moduleId !== undefined && { moduleId: fact(target.moduleId) }),
          expectedDeviceId: cs.deviceId,
          ...(cs.moduleId !== undefined && { expectedModuleId: cs.moduleId }),
        },
      ),
    )
  }
}
