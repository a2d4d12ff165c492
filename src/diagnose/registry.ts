/**
 * What the hub's registry knows about the identity a username names: whether it exists, its
 * status, how it authenticates and its keys; for DPS, the enrollment or the groups whose derived
 * keys may sign.
 *
 * @module
 */
import { SasTokenError } from '../errors.js'
import { deriveDeviceKey } from '../keys.js'
import type { CertificateChainProblem } from './certificate.js'
import { type Finding, finding } from './findings.js'
import { fact } from './text.js'
import { type Context, keyList } from './options.js'
import type { Target } from './username.js'

/** What a registry knows about a device or module identity. */
export interface RegisteredIdentity {
  /** `disabled`: the hub refuses it. For a module, the status of its device. */
  status: 'enabled' | 'disabled'
  /** How it authenticates. */
  authentication:
    | {
        /** Symmetric keys: a SAS token signed with one of them. */
        type: 'sas'
        /** The primary and secondary keys (base64). */
        keys: readonly string[]
      }
    | {
        /** X.509 self-signed: a client certificate with one of these thumbprints. */
        type: 'selfSigned'
        /** The primary and secondary thumbprints (SHA-1 or SHA-256 hex); empty ones are ignored. */
        thumbprints: readonly string[]
      }
    | {
        /** X.509 CA-signed: a client certificate chained to a registered, verified CA. */
        type: 'certificateAuthority'
        /** Why the presented chain does not authenticate this identity; absent when it does. */
        chainProblem?: CertificateChainProblem
      }
}

/** What a DPS knows about an enrollment. */
export interface RegisteredEnrollment {
  /** `disabled`: DPS refuses the registration. */
  status: 'enabled' | 'disabled'
  /** The enrollment's primary and secondary keys (base64); a group's keys derive each device's. */
  keys: readonly string[]
}

/** A DPS enrollment group: device keys are derived from its keys for each registration id. */
export interface RegisteredEnrollmentGroup extends RegisteredEnrollment {
  /** The group's name. */
  enrollmentGroupId: string
}

/**
 * What the hub's registry (and the DPS's enrollment list) knows, looked up for the identity the
 * username names. Given it, {@link diagnoseConnect} decides as the hub does: an unknown or
 * disabled identity, a password for an X.509 identity or a certificate for a keyed one, and a
 * registration with no enrollment are findings, and the keys come from here.
 */
export interface ConnectRegistry {
  /** The device (`moduleId` absent) or module identity, or `undefined` when the registry has none. */
  identity?(deviceId: string, moduleId?: string): RegisteredIdentity | undefined
  /** The individual enrollment of a registration id, or `undefined` when there is none. */
  enrollment?(registrationId: string): RegisteredEnrollment | undefined
  /** The enrollment groups; a registration with no individual enrollment may use an enabled one's derived key. */
  enrollmentGroups?: readonly RegisteredEnrollmentGroup[]
}

/** A key that may sign the identity's token, with the enrollment group it was derived from. */
export interface Candidate {
  key: string
  enrollmentGroupId?: string
}

/** Keys as candidates. */
export const candidates = (keys: readonly string[] | undefined): readonly Candidate[] | undefined =>
  keys?.map((key) => ({ key }))

/** What the registry (and the options) say about the identity the username names. */
export interface Known {
  /** The identity's own keys, from the registry. */
  keys?: readonly Candidate[]
  /** Group keys, whose own signature is named. */
  groupKeys: readonly Candidate[]
  /** The identity's authentication, when the registry knows the identity. */
  authentication?: RegisteredIdentity['authentication']
  /** A registration id without individual enrollment: its keys are the enabled groups' derived ones. */
  withoutEnrollment?: { registrationId: string; groups: number }
}

/** Keys the registry gave, checked and remembered as secrets. */
function registryKeys(keys: unknown, what: string, ctx: Context): readonly string[] {
  if (!Array.isArray(keys)) throw new SasTokenError('ERR_INVALID_OPTION', `${what} must be a list of keys.`)
  return (
    keyList(
      keys.filter((k) => k !== ''),
      what,
      ctx.secrets,
    ) ?? []
  )
}

/** Asks the registry about the identity `target` names: a finding for each refusal it knows of. */
export function lookUp(target: Target, ctx: Context, out: Finding[]): Known {
  const groupKeys: Candidate[] = ctx.groupKey === undefined ? [] : [{ key: ctx.groupKey }]
  const registry = ctx.registry
  if (registry === undefined || !target.valid) return { groupKeys }
  if (target.kind === 'hub') {
    if (typeof registry.identity !== 'function') return { groupKeys }
    const { deviceId, moduleId } = target
    const record = registry.identity(deviceId, moduleId)
    const what = moduleId === undefined ? `device ${deviceId}` : `module ${deviceId}/${moduleId}`
    const ids = { deviceId: fact(deviceId), ...(moduleId !== undefined && { moduleId: fact(moduleId) }) }
    if (record === undefined) {
      out.push(finding('ERR_IDENTITY_NOT_FOUND', { deviceId, moduleId }, ids))
      return { groupKeys }
    }
    if (record.status === 'disabled') {
      out.push(finding('ERR_DEVICE_DISABLED', { deviceId, module: moduleId !== undefined }, ids))
    }
    const auth = record.authentication
    if (auth.type !== 'sas') return { groupKeys, authentication: auth }
    return {
      groupKeys,
      authentication: auth,
      keys: candidates(registryKeys(auth.keys, `the registry's keys of ${what}`, ctx)) ?? [],
    }
  }
  const { registrationId } = target
  const enrollment =
    typeof registry.enrollment === 'function' ? registry.enrollment(registrationId) : undefined
  if (enrollment !== undefined) {
    if (enrollment.status === 'disabled') {
      out.push(
        finding('ERR_ENROLLMENT_DISABLED', { registrationId }, { registrationId: fact(registrationId) }),
      )
    }
    return {
      groupKeys,
      keys: candidates(registryKeys(enrollment.keys, `the enrollment keys of ${registrationId}`, ctx)) ?? [],
    }
  }
  if (registry.enrollmentGroups === undefined && registry.enrollment === undefined) return { groupKeys }
  const groups = (registry.enrollmentGroups ?? []).filter((g) => g.status === 'enabled')
  if (groups.length === 0) {
    out.push(noEnrollment(registrationId, 0))
    return { groupKeys }
  }
  const keys: Candidate[] = []
  for (const group of groups) {
    for (const key of registryKeys(
      group.keys,
      `the keys of enrollment group ${group.enrollmentGroupId}`,
      ctx,
    )) {
      const derived = deriveDeviceKey(key, registrationId)
      ctx.secrets.push(derived)
      keys.push({ key: derived, enrollmentGroupId: group.enrollmentGroupId })
      groupKeys.push({ key, enrollmentGroupId: group.enrollmentGroupId })
    }
  }
  return { groupKeys, keys, withoutEnrollment: { registrationId, groups: groups.length } }
}

/** `ERR_ENROLLMENT_NOT_FOUND` for `registrationId`, which `groups` enabled groups' derived keys did not sign. */
export function noEnrollment(registrationId: string, groups: number): Finding {
  return finding(
    'ERR_ENROLLMENT_NOT_FOUND',
    { registrationId, groups },
    { registrationId: fact(registrationId) },
  )
}
