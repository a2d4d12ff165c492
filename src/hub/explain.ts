/**
 * Explains a refused CONNECT with the core's {@link diagnoseConnect}, given what the hub knows
 * (the identity's key, the policies, the enrollment group key). The hub's own reason leads
 * when the diagnosis cannot see it (an unknown or disabled identity, a thumbprint mismatch).
 *
 * @module
 */
import { diagnoseConnect } from '../diagnose.js'
import type { DiagnoseConnectOptions, DiagnosisCode, Finding, HubPolicy } from '../diagnose.js'
import type { RefusalReason } from './mqtt/device-auth.js'
import type { Policy } from './state/registry.js'

/** The hub's policies in the table diagnoseConnect reads. */
export function diagnosisPolicies(policies: readonly Policy[]): Record<string, HubPolicy> {
  const table: Record<string, HubPolicy> = Object.create(null)
  for (const p of policies)
    table[p.keyName] = { deviceConnect: p.rights.includes('DeviceConnect'), key: p.primaryKey }
  return table
}

/**
 * The findings for a refusal, with anything shaped like a SAS token's signature redacted (a
 * finding may quote the field a token was sent in); never throws.
 */
export function explainRefusal(
  connect: { clientId: string; username: string; password?: string },
  reason: RefusalReason,
  o: DiagnoseConnectOptions,
): Finding[] {
  let findings: Finding[]
  try {
    findings = diagnoseConnect(connect, o).map((f) => ({ ...f }))
  } catch {
    findings = []
  }
  if (!findings.some((f) => f.severity === 'error')) {
    // the hub's registry-only codes (unknown identity, disabled, X.509 chain) are not the core's
    // yet: they become diagnoseConnect's own findings with issue 15's one CONNECT rule set
    const code = reason.code as DiagnosisCode
    findings.unshift({ severity: 'error', code, message: reason.message, ...reason.facts })
  }
  return findings
}
