/**
 * The username of a CONNECT, read with the core's grammar (`parseMqttUsername`): its shape, its
 * api-version and model-id, and the identity it names.
 *
 * @module
 */
import { assertDeviceId, assertHostName, assertIdScope, assertRegistrationId } from '../identity.js'
import { isApiVersion, isDtmi, parseMqttUsername } from '../mqtt/credentials.js'
import { type Finding, finding, problem } from './findings.js'
import { fact } from './text.js'
import { sameHost } from './identity.js'
import type { Context } from './options.js'

/** What the username names. */
export type Target =
  | { kind: 'hub'; hostName: string; deviceId: string; moduleId?: string; valid: boolean }
  | { kind: 'dps'; idScope: string; registrationId: string; valid: boolean }

/** The api-version parameter: missing (an error), or not a date (a warning). */
function checkApiVersion(params: ReadonlyMap<string, string>, dps: boolean, out: Finding[]): void {
  const apiVersion = params.get('api-version')
  if (apiVersion === undefined) {
    out.push(finding('ERR_USERNAME_API_VERSION_MISSING', { dps }))
  } else if (!isApiVersion(apiVersion)) {
    out.push(
      finding('WARN_USERNAME_API_VERSION_UNKNOWN', { dps, apiVersion }, { apiVersion: fact(apiVersion) }),
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
    out.push(finding('ERR_USERNAME_MISSING', {}))
    return undefined
  }
  if (parsed.kind === 'malformed') {
    const ids = parsed.ids ?? 0
    out.push(
      finding('ERR_USERNAME_MALFORMED', parsed.service === 'dps' ? { shape: 'dps' } : { shape: 'ids', ids }),
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
      if (message !== undefined) out.push(finding('ERR_IDENTIFIER_INVALID', { problem: message }))
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
    out.push(finding('ERR_USERNAME_MALFORMED', { shape: 'host', problem: hostProblem }))
  if (parsed.form === 'no-slash') {
    out.push(finding('ERR_USERNAME_MALFORMED', { shape: 'no-slash' }))
  }
  if (parsed.form === 'legacy') {
    out.push(finding('ERR_USERNAME_QUESTION_MARK_MISSING', {}))
  }
  checkApiVersion(params, false, out)
  const idProblems = [
    problem(() => assertDeviceId(deviceId, "The username's device id")),
    moduleId === undefined ? undefined : problem(() => assertDeviceId(moduleId, "The username's module id")),
  ].filter((m): m is string => m !== undefined)
  for (const message of idProblems) out.push(finding('ERR_IDENTIFIER_INVALID', { problem: message }))
  const modelId = params.get('model-id')
  if (modelId !== undefined && !isDtmi(modelId)) {
    out.push(finding('WARN_MODEL_ID_NOT_DTMI', { modelId }, { modelId: fact(modelId) }))
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
