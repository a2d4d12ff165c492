/**
 * The `ready` document, built once: the event a started hub publishes, and what
 * `sas-token hub` prints (its `--json` first line as it is, its human lines from its fields).
 *
 * @module
 */
import type { HubConsole } from './console/server.js'
import type { HubReadyEvent } from './event-types.js'
import type { LaunchedHub } from './start-hub.js'
import { IOT_HUB_TIERS } from './state/throttle.js'
import type { HubTier } from './state/throttle.js'

function tierInfo(tier: Required<HubTier>): NonNullable<HubReadyEvent['tier']> {
  const limits = IOT_HUB_TIERS[tier.name]
  return {
    name: tier.name,
    units: tier.units,
    messagesPerDay: limits.messagesPerDayPerUnit * tier.units,
    meterBytes: limits.meterBytes,
  }
}

/** What a started hub says first: how to reach it (the `ready` event). It holds the owner key and device keys. */
export type ReadyDocument = HubReadyEvent

/**
 * Builds the `ready` document of a started hub (and its console), publishes it as the `ready`
 * event and returns it.
 */
export function publishReady(launched: LaunchedHub, web?: HubConsole): ReadyDocument {
  const { hub } = launched
  const document: Omit<ReadyDocument, 'time'> = {
    event: 'ready',
    hubConnectionString: hub.hubConnectionString,
    eventHubConnectionString: hub.eventHubConnectionString ?? null,
    eventHubDevelopmentConnectionString: hub.eventHubDevelopmentConnectionString ?? null,
    eventHub: hub.eventHub,
    dpsConnectionString: hub.dpsConnectionString,
    caPath: hub.caPath ?? null,
    ...(hub.caPath === undefined ? { ca: hub.ca } : {}),
    hostName: hub.hostName,
    idScope: hub.idScope,
    host: launched.host,
    ports: { ...hub.ports },
    stateDir: launched.stateDir ?? null,
    consoleUrl: web?.url ?? null,
    devices: launched.devices,
    ...(launched.tier === undefined ? {} : { tier: tierInfo(launched.tier) }),
  }
  const { time } = hub.events.publish(document)
  return { ...document, time }
}
