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
  if (e.deviceId === undefined) return ''
  return e.moduleId === undefined ? e.deviceId : `${e.deviceId}/${e.moduleId}`
}

function short(value: unknown, max = 200): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/** An event of a kind this CLI does not know (a newer hub's): its line has no facts. */
function unknownKind(_: never): string {
  return ''
}

/** The facts on the event's line, then the lines under it. */
function facts(e: HubEvent): string | string[] {
  switch (e.event) {
    case 'ready':
    case 'twin-get':
      return ''
    case 'connect': {
      const line = `${e.protocol} auth=${e.authMethod} cleanSession=${e.cleanSession}${e.restoredSubscriptions === undefined ? '' : ` restored=${e.restoredSubscriptions.join(',')}`}`
      return e.warnings === undefined
        ? line
        : [line, ...e.warnings.map((f) => `warning ${f.code}: ${f.message}`)]
    }
    case 'refuse':
      return [
        `${e.returnCode === undefined ? (e.condition ?? `HTTP ${e.status}`) : `CONNACK ${e.returnCode}`} ${e.protocol} clientId=${JSON.stringify(e.clientId)} username=${JSON.stringify(e.username)}`,
        ...e.findings.map((f) => `${f.severity} ${f.code}: ${f.message}`),
        ...(e.fault === undefined ? [] : [`fault ${e.fault.fault}: ${e.fault.message}`]),
      ]
    case 'disconnect':
    case 'close':
      return `${e.protocol} ${e.reason}`
    case 'subscribe':
      return e.topics.map((t) => `${t.topic} (QoS ${t.qos})`).join(', ')
    case 'unsubscribe':
      return e.topics.join(', ')
    case 'telemetry': {
      const { outputName, messageId } = e.systemProperties
      const text = e.body.text !== undefined ? short(e.body.text) : `base64:${short(e.body.base64)}`
      return `${e.protocol} ${outputName === undefined ? '' : `output=${outputName} `}${text} properties=${short(e.properties)}${messageId === undefined ? '' : ` messageId=${messageId}`}`
    }
    case 'twin-reported':
    case 'twin-desired':
      return e.error === undefined ? `${short(e.patch)} $version=${e.version}` : `${e.status} ${e.error}`
    case 'method':
      return `${e.methodName} → ${e.status}`
    case 'c2d':
      return `${e.messageId} ${e.state}${e.deliveryCount !== undefined && e.deliveryCount > 0 ? ` deliveryCount=${e.deliveryCount}` : ''}${e.statusCode === undefined ? '' : ` ${e.statusCode}`}${e.reason === undefined ? '' : ` (${e.reason})`}`
    case 'dps-register':
      return `→ ${e.deviceId} on ${e.assignedHub}${e.enrollmentGroupId === undefined ? '' : ` (group ${e.enrollmentGroupId})`}`
    case 'registry':
      return e.action
    case 'fault':
      return `${e.fault} (${e.source}${e.protocol === undefined ? '' : ` ${e.protocol}`}): ${e.action}${e.until === undefined ? '' : ` until ${e.until}`}`
    case 'warning':
      return e.message
    default:
      return unknownKind(e)
  }
}

/** The log line of an event (a refusal: with its findings on the lines under it), terminal-safe. */
export function renderHubEvent(e: HubEvent): string {
  const [line = '', ...under] = [facts(e)].flat()
  const head = [e.time, e.event.padEnd(13), who(e), line].filter((p) => p !== '').join(' ')
  return [escapeTerminal(head), ...under.map((l) => `    ${escapeTerminal(l)}`)].join('\n')
}
