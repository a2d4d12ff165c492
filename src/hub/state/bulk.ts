/**
 * The bulk registry operation (`POST /devices`, the SDK's `addDevices`, `updateDevices`,
 * `removeDevices`): up to 100 devices or modules, each with IoT Hub's import mode, applied one
 * after the other through the hub's own registry operations (`putDevice`, `deleteDevice`, their
 * module twins and `updateTwin`), so the rules are the single-device ones. Each item succeeds or
 * fails alone, as on IoT Hub: what succeeded stays.
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'
import type { HubService } from '../service.js'
import type { IdentityInput } from './registry.js'

/** IoT Hub's import modes (matched without regard to case, as the SDK sends `create` and `Update`). */
export const IMPORT_MODES = [
  'create',
  'update',
  'updateIfMatchETag',
  'delete',
  'deleteIfMatchETag',
  'updateTwin',
  'updateTwinIfMatchETag',
] as const

/** One import mode. */
export type ImportMode = (typeof IMPORT_MODES)[number]

/** The most items one request may hold. */
export const MAX_BULK_ITEMS = 100

/** One item of the request: IoT Hub's `ExportImportDevice`, as checked by the body schema. */
export interface BulkItem extends IdentityInput {
  id: string
  moduleId?: string | null | undefined
  importMode: string
  eTag?: string | null | undefined
  /** `eTag` as a device's JSON spells it (the SDK's `updateDevices` sends the device as given; IoT Hub reads either). */
  etag?: string | null | undefined
  twinETag?: string | null | undefined
  tags?: Record<string, unknown> | null | undefined
  properties?: { desired?: Record<string, unknown> | null | undefined } | null | undefined
}

/** How one item ended: its ids and mode, and the error when it failed. */
export interface BulkOutcome {
  readonly deviceId: string
  readonly moduleId?: string
  readonly operation: ImportMode
  /** The refusal (a `SasTokenError` from the registry), absent when the item succeeded. */
  readonly error?: unknown
}

function modeOf(item: BulkItem, index: number): ImportMode {
  const mode = IMPORT_MODES.find((m) => m.toLowerCase() === item.importMode.toLowerCase())
  if (mode === undefined)
    throw new SasTokenError(
      'ERR_HUB_BAD_REQUEST',
      `The bulk registry body is not valid: ${index}.importMode ${JSON.stringify(item.importMode.slice(0, 40))} is not one of ${IMPORT_MODES.join(', ')}.`,
      { facts: { field: `${index}.importMode` } },
    )
  return mode
}

function etagOf(item: BulkItem, field: 'eTag' | 'twinETag', mode: ImportMode): string {
  const etag = field === 'eTag' ? (item.eTag ?? item.etag) : item.twinETag
  if (typeof etag !== 'string' || etag === '')
    throw new SasTokenError(
      'ERR_HUB_PRECONDITION_FAILED',
      `${mode} needs the ${field} to match; the item has none.`,
    )
  return etag
}

function applyOne(hub: HubService, item: BulkItem, mode: ImportMode): void {
  const moduleId = item.moduleId ?? undefined
  const id = item.id
  const put = (ifMatch?: string): void => {
    if (moduleId === undefined) hub.putDevice(id, item, ifMatch)
    else hub.putModule(id, moduleId, item, ifMatch)
  }
  const exists = (): boolean => hub.identity(id, moduleId) !== undefined
  const twin = (ifMatch?: string): void => {
    if (!item.tags && !item.properties?.desired) return
    hub.updateTwin(
      id,
      moduleId,
      { tags: item.tags, properties: item.properties },
      ifMatch === undefined ? {} : { ifMatch },
    )
  }
  switch (mode) {
    case 'create':
      put()
      return twin()
    case 'update':
      put('*')
      return twin()
    case 'updateIfMatchETag':
      if (exists()) put(etagOf(item, 'eTag', mode))
      else put()
      return twin()
    case 'delete':
    case 'deleteIfMatchETag': {
      const ifMatch = mode === 'delete' ? undefined : etagOf(item, 'eTag', mode)
      if (moduleId === undefined) hub.deleteDevice(id, ifMatch)
      else hub.deleteModule(id, moduleId, ifMatch)
      return
    }
    case 'updateTwin':
    case 'updateTwinIfMatchETag':
      hub.requireIdentity(id, moduleId)
      return twin(mode === 'updateTwin' ? undefined : etagOf(item, 'twinETag', mode))
  }
}

/**
 * Applies a bulk registry request, item by item, in order.
 *
 * @returns Each item's outcome, in the order given.
 * @throws {SasTokenError} `ERR_HUB_TOO_MANY_DEVICES` for more than {@link MAX_BULK_ITEMS} items,
 *   `ERR_HUB_BAD_REQUEST` for none, an unknown import mode or an identity named twice; nothing is
 *   applied then.
 */
export function bulkRegistry(hub: HubService, items: readonly BulkItem[]): BulkOutcome[] {
  if (items.length > MAX_BULK_ITEMS)
    throw new SasTokenError(
      'ERR_HUB_TOO_MANY_DEVICES',
      `The bulk registry request has ${items.length} items; IoT Hub takes at most ${MAX_BULK_ITEMS}.`,
      { facts: { limit: MAX_BULK_ITEMS } },
    )
  if (items.length === 0)
    throw new SasTokenError('ERR_HUB_BAD_REQUEST', 'The bulk registry request has no items: send 1 to 100.')
  const modes = items.map(modeOf)
  const seen = new Set<string>()
  for (const [i, item] of items.entries()) {
    const key = JSON.stringify([item.id, item.moduleId ?? null])
    if (seen.has(key))
      throw new SasTokenError(
        'ERR_HUB_BAD_REQUEST',
        `The bulk registry body names ${item.moduleId ? `module ${item.id}/${item.moduleId}` : `device ${item.id}`} more than once (again at ${i}); an identity can be named only once.`,
        { facts: { field: `${i}.id` } },
      )
    seen.add(key)
  }
  return items.map((item, i) => {
    const operation = modes[i] ?? 'create'
    const ids = { deviceId: item.id, ...(item.moduleId ? { moduleId: item.moduleId } : {}), operation }
    try {
      applyOne(hub, item, operation)
      return ids
    } catch (error) {
      return { ...ids, error }
    }
  })
}
