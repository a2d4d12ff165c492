/**
 * The twin query (`POST /devices/query`): the query language (../query/) run over the twins of
 * the registry, as `twinJson` renders them, in device-id order (then module id), one page at a
 * time.
 *
 * @module
 */
import { isAggregate, runQuery } from '../query/evaluate.js'
import { compareKeys, keyCursor, keyToken, page, pageSize, pageStart } from '../query/paging.js'
import { parseQuery } from '../query/parser.js'
import type { Collection } from '../query/parser.js'
import type { HubService } from '../service.js'
import type { JsonObject } from './twin.js'

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** Every twin of a collection: device twins (`devices`) or module twins (`devices.modules`). */
export function twinDocuments(
  hub: HubService,
  collection: Exclude<Collection, 'devices.jobs'>,
): JsonObject[] {
  const ids = Object.keys(hub.state.devices).sort(byCodeUnit)
  if (collection === 'devices') return ids.map((id) => hub.twinJson(id))
  return ids.flatMap((id) => {
    const entry = hub.entry(id)
    const modules = entry === undefined ? [] : Object.keys(entry.modules).sort(byCodeUnit)
    return modules.map((m) => hub.twinJson(id, m))
  })
}

/** One page of a query's results. */
export interface QueryPage {
  readonly items: unknown[]
  /** IoT Hub's `x-ms-item-type`: `twin` for whole twins, `raw` for projections and aggregates. */
  readonly itemType: 'twin' | 'deviceJob' | 'raw'
  /** The `x-ms-continuation` of the next page; absent on the last. */
  readonly continuation: string | undefined
}

/** A twin's key in the order twins are listed: its device id, then its module id. */
function keyOf(doc: unknown): string[] {
  const twin = doc as { deviceId?: unknown; moduleId?: unknown }
  return [String(twin.deviceId ?? ''), String(twin.moduleId ?? '')]
}

/**
 * Runs a query over the registry and returns the page asked for. A page of twins or of their
 * projections continues after its last twin's key, so twins deleted (or added before it)
 * meanwhile move nothing; a page of aggregates or job rows continues at an offset.
 *
 * @param o.continuation The `x-ms-continuation` header, if any.
 * @param o.maxItemCount The `x-ms-max-item-count` header, if any.
 * @param o.deviceJobs The `devices.jobs` collection (each device's part in each job).
 * @throws {SasTokenError} `ERR_HUB_QUERY_INVALID` for a query that cannot run (position and token
 *   in the message), `ERR_HUB_BAD_REQUEST` for a bad paging header.
 */
export function queryTwins(
  hub: HubService,
  text: string,
  o: {
    continuation?: string | undefined
    maxItemCount?: string | undefined
    deviceJobs?: (() => readonly unknown[]) | undefined
  } = {},
): QueryPage {
  const query = parseQuery(text)
  const size = pageSize(o.maxItemCount)
  if (query.from === 'devices.jobs' || isAggregate(query)) {
    const start = pageStart(o.continuation)
    const docs = query.from === 'devices.jobs' ? (o.deviceJobs?.() ?? []) : twinDocuments(hub, query.from)
    const result = runQuery(query, docs)
    const { items, continuation } = page(result.rows, start, size)
    return { items, itemType: result.itemType, continuation }
  }
  const cursor = keyCursor(o.continuation)
  const all = twinDocuments(hub, query.from)
  const docs = cursor === undefined ? all : all.filter((d) => compareKeys(keyOf(d), cursor.after) > 0)
  const result = runQuery(query, docs)
  const taken = cursor?.taken ?? 0
  const left = query.top === undefined ? result.rows.length : Math.max(query.top - taken, 0)
  const rows = result.rows.slice(0, Math.min(left, size))
  const last = result.sources?.[rows.length - 1]
  const more = Math.min(left, result.rows.length) > rows.length && last !== undefined
  return {
    items: [...rows],
    itemType: result.itemType,
    continuation: more ? keyToken(keyOf(last), taken + rows.length) : undefined,
  }
}
