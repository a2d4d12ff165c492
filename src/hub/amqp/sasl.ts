/**
 * SASL for AMQP clients: ANONYMOUS (and no SASL at all), after which the client puts its tokens
 * on `$cbs`; and PLAIN, IoT Hub's other way: the username names what the password (a SAS
 * token) is for —
 *
 * - `{policy}@sas.root.{hubName}`: a policy token for the hub (decided by `authorizePolicyToken`);
 * - `{deviceId}@sas.{hubName}` (a module: `{deviceId}/modules/{moduleId}@sas.{hubName}`): a
 *   device or module token (decided by `authenticateToken`, the CONNECT rules).
 *
 * `hubName` is the first label of the hub's host name (`myhub` of `myhub.azure-devices.net`).
 * An accepted token is the connection's authorization for its audience; a refused one fails
 * SASL (`auth`) and is a `refuse` event with the findings and the username (and the `fault`
 * when a fault on purpose refused a token the findings accept).
 *
 * @module
 */
import { finding } from '../../diagnose/findings.js'
import { deviceAudience } from './audience.js'
import { decideToken } from './authorize.js'
import { authenticatedDevice } from './device-session.js'
import type { TokenDecision } from './authorize.js'
import { clientIdOf } from './context.js'
import { idFields } from '../state/sessions.js'
import type { AmqpConnection, AmqpContext } from './context.js'

/** What a SASL PLAIN username names. */
export type PlainUsername =
  | { kind: 'policy'; keyName: string; hubName: string }
  | { kind: 'device'; deviceId: string; moduleId?: string; hubName: string }

/** Parses a SASL PLAIN username, or `undefined` when it has neither form. */
export function parsePlainUsername(username: string): PlainUsername | undefined {
  const root = /^(.+)@sas\.root\.([^@]+)$/.exec(username)
  if (root !== null) return { kind: 'policy', keyName: root[1] ?? '', hubName: root[2] ?? '' }
  const device = /^(.+)@sas\.([^@]+)$/.exec(username)
  if (device === null) return undefined
  const id = device[1] ?? ''
  const hubName = device[2] ?? ''
  const module = /^([^/]+)\/(?:modules\/)?([^/]+)$/.exec(id)
  return module === null
    ? { kind: 'device', deviceId: id, hubName }
    : { kind: 'device', deviceId: module[1] ?? '', moduleId: module[2] ?? '', hubName }
}

function refusal(why: string): TokenDecision {
  return {
    ok: false,
    condition: 'amqp:unauthorized-access',
    findings: [finding('ERR_HUB_UNAUTHORIZED', { why })],
  }
}

/** Decides SASL PLAIN's username and password; `true` when the connection may go on. */
export function saslPlain(
  ctx: AmqpContext,
  conn: AmqpConnection,
  username: string,
  password: string,
): boolean {
  const { hub } = ctx
  conn.saslUsername = username.slice(0, 300)
  const parsed = parsePlainUsername(username)
  const hubName = hub.hostName.split('.')[0] ?? hub.hostName
  let decision: TokenDecision
  let identity: { deviceId: string; moduleId?: string } | undefined
  if (parsed === undefined) {
    decision = refusal(
      `the SASL PLAIN username must be {policy}@sas.root.${hubName} (a policy token as the password) or {deviceId}@sas.${hubName} (a device token).`,
    )
  } else if (
    parsed.hubName.toLowerCase() !== hubName.toLowerCase() &&
    parsed.hubName.toLowerCase() !== hub.hostName.toLowerCase()
  ) {
    decision = refusal(
      `the SASL PLAIN username names the hub ${JSON.stringify(parsed.hubName.slice(0, 100))}; this hub is ${hubName}.`,
    )
  } else if (parsed.kind === 'policy') {
    decision = decideToken(hub, hub.hostName, password, 'sasl-plain')
    if (decision.ok && decision.authorization.keyName !== parsed.keyName)
      decision = refusal(
        `the username names the policy ${parsed.keyName}, but the token is signed by ${decision.authorization.keyName}.`,
      )
  } else {
    identity = idFields(parsed)
    decision = decideToken(
      hub,
      deviceAudience(hub.hostName, parsed.deviceId, parsed.moduleId),
      password,
      'sasl-plain',
    )
  }
  if (decision.ok) {
    conn.grant(decision.authorization)
    if (decision.authorization.kind === 'device') authenticatedDevice(ctx, conn, decision.authorization)
    return true
  }
  const named = decision.identity ?? identity
  hub.refuse({
    time: new Date(hub.now()).toISOString(),
    clientId: named === undefined ? '' : clientIdOf(named),
    username: conn.saslUsername,
    protocol: conn.protocol,
    condition: decision.condition,
    ...(named === undefined ? {} : idFields(named)),
    findings: decision.findings,
    ...(decision.fault === undefined
      ? {}
      : { fault: { fault: decision.fault.fault, message: decision.fault.message } }),
  })
  return false
}
