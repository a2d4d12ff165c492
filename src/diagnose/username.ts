/**
 * The username of a CONNECT, read with the core's grammar (`parseMqttUsername`): its shape, its
 * api-version and model-id, and the identity it names.
 *
 * @module
 */
import { assertDeviceId, assertHostName, assertIdScope, assertRegistrationId } from '../identity.js'
import {
  DEFAULT_API_VERSION,
  DPS_API_VERSION,
  isApiVersion,
  isDtmi,
  parseMqttUsername,
} from '../mqtt/credentials.js'
import { type Finding, fact, finding, problem, quote } from './findings.js'
import { sameHost } from './identity.js'
import type { Context } from './options.js'

/** What the username names. */
export type Target =
  | { kind: 'hub'; hostName: string; deviceId: string; moduleId?: string; valid: boolean }
  | { kind: 'dps'; idScope: string; registrationId: string; valid: boolean }

export const HUB_USERNAME = `{hub}/{deviceId}/?api-version=${DEFAULT_API_VERSION} (a module: {hub}/{deviceId}/{moduleId}/?api-version=${DEFAULT_API_VERSION})`
export const DPS_USERNAME = `{idScope}/registrations/{registrationId}/api-version=${DPS_API_VERSION}`

export function checkApiVersion(params: ReadonlyMap<string, string>, dps: boolean, out: Finding[]): void {
  const apiVersion = params.get('api-version')
  const form = dps ? DPS_USERNAME : HUB_USERNAME
  if (apiVersion === undefined) {
    out.push(
      finding(
        'ERR_USERNAME_API_VERSION_MISSING',
        `The username has no api-version: write it as ${form}. ${dps ? 'DPS requires it' : 'Without it the hub may connect, but twin updates fail (400) and IoT Edge refuses the connection'}.`,
      ),
    )
  } else if (!isApiVersion(apiVersion)) {
    out.push(
      finding(
        'WARN_USERNAME_API_VERSION_UNKNOWN',
        `The username's api-version ${quote(apiVersion)} is no api-version (a date such as ${dps ? DPS_API_VERSION : DEFAULT_API_VERSION}): ${dps ? 'DPS' : 'the hub'} does not check its value at CONNECT, but the features of a version depend on it; use ${dps ? DPS_API_VERSION : DEFAULT_API_VERSION}.`,
        { apiVersion: fact(apiVersion) },
      ),
    )
  }
}

/** Reads the username into what it names, with a finding for each thing wrong with its shape. */
export function readUsername(
  username: unknown,
  ctx: Context,
  out: Finding[],
): (Target & { params: ReadonlyMap<string, string> }) | undefined {
  const parsed = parseMqttUsername(username)
  if (parsed.kind === 'missing') {
    out.push(
      finding(
        'ERR_USERNAME_MISSING',
        `The CONNECT has no username: send ${HUB_USERNAME}, or for DPS ${DPS_USERNAME}.`,
      ),
    )
    return undefined
  }
  if (parsed.kind === 'malformed') {
    const ids = parsed.ids ?? 0
    out.push(
      finding(
        'ERR_USERNAME_MALFORMED',
        parsed.service === 'dps'
          ? `The DPS username is malformed: write it as ${DPS_USERNAME}.`
          : `The username is malformed: ${
              ids > 2
                ? `it has ${ids} ids after the host name, at most 2 (device and module)`
                : 'it needs a host name and a device id'
            }; write it as ${HUB_USERNAME}.`,
      ),
    )
    return undefined
  }
  const params = parsed.params
  if (parsed.kind === 'dps') {
    const { idScope, registrationId } = parsed
    checkApiVersion(params, true, out)
    const scopeProblem = problem(() => assertIdScope(idScope))
    const idProblem = problem(() => assertRegistrationId(registrationId, "The username's registration id"))
    for (const message of [scopeProblem, idProblem]) {
      if (message !== undefined) out.push(finding('ERR_IDENTIFIER_INVALID', message))
    }
    const valid = scopeProblem === undefined && idProblem === undefined
    return { kind: 'dps', idScope, registrationId, valid, params }
  }
  const { hostName, deviceId, moduleId } = parsed
  // an alias (`localhost:8883`) is the hub's own name, port and all
  const hostProblem = ctx.aliases.some((alias) => sameHost(hostName, alias))
    ? undefined
    : problem(() => assertHostName(hostName, "The username's host name"))
  if (hostProblem !== undefined)
    out.push(finding('ERR_USERNAME_MALFORMED', `${hostProblem} Write the username as ${HUB_USERNAME}.`))
  if (parsed.form === 'no-slash') {
    out.push(
      finding(
        'ERR_USERNAME_MALFORMED',
        `The username needs a '/' between the identity and '?': write it as ${HUB_USERNAME}.`,
      ),
    )
  }
  if (parsed.form === 'legacy') {
    out.push(
      finding(
        'ERR_USERNAME_QUESTION_MARK_MISSING',
        `The username has no '?' before its parameters (an old form): write it as ${HUB_USERNAME}; modules and newer features need the '?'.`,
      ),
    )
  }
  checkApiVersion(params, false, out)
  const idProblems = [
    problem(() => assertDeviceId(deviceId, "The username's device id")),
    moduleId === undefined ? undefined : problem(() => assertDeviceId(moduleId, "The username's module id")),
  ].filter((m): m is string => m !== undefined)
  for (const message of idProblems) out.push(finding('ERR_IDENTIFIER_INVALID', message))
  const modelId = params.get('model-id')
  if (modelId !== undefined && !isDtmi(modelId)) {
    out.push(
      finding(
        'WARN_MODEL_ID_NOT_DTMI',
        `The username's model-id ${quote(modelId)} is not a DTMI: the hub connects the device, but IoT Plug and Play tools find no model for it; use the form dtmi:com:example:Thermostat;1 (percent-encoded in the username), or leave model-id out.`,
        { modelId: fact(modelId) },
      ),
    )
  }
  return {
    kind: 'hub',
    hostName,
    deviceId,
    ...(moduleId !== undefined && { moduleId }),
    valid: hostProblem === undefined && idProblems.length === 0,
    params,
  }
}
