/**
 * One hub event as one human log line: `time event identity facts`. Keys never appear in
 * events; the ready block, which prints connection strings on purpose, is rendered apart.
 * Everything a device sent is printed through {@link escapeTerminal}: no control character, CR
 * or LF of a device's reaches the terminal (a refusal's findings are the only lines of their own).
 *
 * @module
 */
import type { HubEvent } from '../hub/index.js'
import { escapeTerminal } from './escape-terminal.js'

function who(e: HubEvent): string {
  if (typeof e.registrationId === 'string' && e.deviceId === undefined) return e.registrationId
  if (e.deviceId === undefined) return ''
  return e.moduleId === undefined ? e.deviceId : `${e.deviceId}/${e.moduleId}`
}

function short(value: unknown, max = 200): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/** The facts on the event's line, then the lines under it. */
function facts(e: HubEvent): string | string[] {
  switch (e.event) {
    case 'connect':
      return `${e.protocol} auth=${e.authMethod} cleanSession=${e.cleanSession}${Array.isArray(e.restoredSubscriptions) ? ` restored=${e.restoredSubscriptions.join(',')}` : ''}`
    case 'refuse': {
      const findings = Array.isArray(e.findings) ? e.findings : []
      const lines = findings.map(
        (f: { severity?: string; code?: string; message?: string }) =>
          `${f.severity} ${f.code}: ${f.message}`,
      )
      return [
        `CONNACK ${e.returnCode} clientId=${JSON.stringify(e.clientId)} username=${JSON.stringify(e.username)}`,
        ...lines,
      ]
    }
    case 'disconnect':
    case 'close':
      return String(e.reason)
    case 'subscribe':
      return Array.isArray(e.topics)
        ? e.topics.map((t: { topic?: string; qos?: number }) => `${t.topic} (QoS ${t.qos})`).join(', ')
        : ''
    case 'unsubscribe':
      return Array.isArray(e.topics) ? e.topics.join(', ') : ''
    case 'telemetry': {
      const body = e.body as { text?: string; base64?: string } | undefined
      const text = body?.text !== undefined ? short(body.text) : `base64:${short(body?.base64 ?? '')}`
      return `${text} properties=${short(e.properties)}${e.systemProperties && typeof e.systemProperties === 'object' && 'messageId' in e.systemProperties ? ` messageId=${String(e.systemProperties.messageId)}` : ''}`
    }
    case 'twin-reported':
    case 'twin-desired':
      return e.error === undefined ? `${short(e.patch)} $version=${e.version}` : `400 ${e.error}`
    case 'method':
      return `${e.methodName} → ${e.status}`
    case 'c2d':
      return `${e.messageId} ${e.state}${typeof e.deliveryCount === 'number' && e.deliveryCount > 0 ? ` deliveryCount=${e.deliveryCount}` : ''}${e.statusCode === undefined ? '' : ` ${e.statusCode}`}${e.reason === undefined ? '' : ` (${e.reason})`}`
    case 'dps-register':
      return `→ ${e.deviceId} on ${e.assignedHub}${e.enrollmentGroupId === undefined ? '' : ` (group ${e.enrollmentGroupId})`}`
    case 'registry':
      return String(e.action)
    case 'warning':
      return String(e.message)
    default:
      return ''
  }
}

/** The log line of an event (a refusal: with its findings on the lines under it), terminal-safe. */
export function renderHubEvent(e: HubEvent): string {
  const [line = '', ...under] = [facts(e)].flat()
  const head = [e.time, e.event.padEnd(13), who(e), line].filter((p) => p !== '').join(' ')
  return [escapeTerminal(head), ...under.map((l) => `    ${escapeTerminal(l)}`)].join('\n')
}
