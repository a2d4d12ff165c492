/**
 * Device twins: the JSON rules IoT Hub applies to tags, desired and reported properties
 * (size, depth, `null` deletes a member) and the twin document the service API returns.
 *
 * @module
 */
import { SasTokenError } from '../../errors.js'

/** A JSON object (property collection). */
export type JsonObject = { [key: string]: unknown }

/** The stored twin of a device or module. */
export interface TwinState {
  /** Bumped on every change to tags, desired or reported. */
  version: number
  tags: JsonObject
  desired: JsonObject
  desiredVersion: number
  reported: JsonObject
  reportedVersion: number
}

/** Desired and reported are limited to 32 KB each (without `$version` and `$metadata`). */
export const MAX_PROPERTIES_BYTES = 32 * 1024
/** Tags are limited to 8 KB. */
export const MAX_TAGS_BYTES = 8 * 1024
/** JSON objects in a twin may nest at most 10 levels. */
export const MAX_DEPTH = 10

/** A fresh twin: empty collections, every version 1 (as a new IoT Hub twin). */
export function newTwin(): TwinState {
  return {
    version: 1,
    tags: jsonObject(),
    desired: jsonObject(),
    desiredVersion: 1,
    reported: jsonObject(),
    reportedVersion: 1,
  }
}

/**
 * A new property collection: a null-prototype object, so that a member the user names
 * `__proto__` (or `constructor`) is an ordinary member and never the object's prototype.
 */
export function jsonObject(from?: JsonObject): JsonObject {
  const out: JsonObject = Object.create(null) as JsonObject
  return from === undefined ? out : Object.assign(out, from)
}

function badRequest(message: string): SasTokenError {
  return new SasTokenError('ERR_HUB_BAD_REQUEST', message)
}

function depth(value: unknown): number {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 0
  let deepest = 0
  for (const child of Object.values(value)) deepest = Math.max(deepest, depth(child))
  return 1 + deepest
}

/**
 * A plain copy of a property collection, for what the hub hands out (API results, events): the
 * stored collections have null prototypes ({@link jsonObject}); JSON.parse keeps a member named
 * `__proto__` as a member. The copy is the caller's to change.
 */
export function plainJson(value: JsonObject): JsonObject {
  const copy: unknown = JSON.parse(JSON.stringify(value))
  return isJsonObject(copy) ? copy : {}
}

/** `true` for a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/**
 * Parses a twin patch sent by a device or an operator and checks IoT Hub's limits.
 *
 * @param text The JSON text.
 * @param what What the patch is, for the message ("reported properties").
 * @param limit The byte limit of the collection.
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` for malformed JSON, a non-object, a patch over
 *   the limit, deeper than {@link MAX_DEPTH}, or naming a member that starts with `$`.
 */
export function parsePatch(text: string, what: string, limit = MAX_PROPERTIES_BYTES): JsonObject {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw badRequest(`The ${what} patch is not valid JSON.`)
  }
  return checkPatch(value, what, limit)
}

/**
 * Checks an already-parsed twin patch against IoT Hub's limits.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` as {@link parsePatch}.
 */
export function checkPatch(value: unknown, what: string, limit = MAX_PROPERTIES_BYTES): JsonObject {
  if (!isJsonObject(value)) throw badRequest(`The ${what} patch must be a JSON object.`)
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8')
  if (bytes > limit) throw badRequest(`The ${what} patch is ${bytes} bytes; IoT Hub allows ${limit}.`)
  if (depth(value) > MAX_DEPTH) throw badRequest(`The ${what} patch nests deeper than ${MAX_DEPTH} levels.`)
  for (const key of Object.keys(value)) {
    if (key.startsWith('$'))
      throw badRequest(`The ${what} patch names ${JSON.stringify(key)}: '$' members are the hub's.`)
  }
  return value
}

/**
 * Merges `patch` into `target` as IoT Hub does: objects merge recursively, `null` deletes the
 * member, anything else replaces it. Returns a new object; neither input is changed.
 */
export function mergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const result = jsonObject(target)
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key]
    else if (isJsonObject(value)) {
      const current = result[key]
      result[key] = mergePatch(isJsonObject(current) ? current : jsonObject(), value)
    } else result[key] = value
  }
  return result
}

/**
 * Applies a patch to one collection and checks that the result stays within the limit.
 *
 * @throws {SasTokenError} `ERR_HUB_BAD_REQUEST` when the merged collection is over `limit`.
 */
export function applyPatch(target: JsonObject, patch: JsonObject, what: string, limit: number): JsonObject {
  const merged = mergePatch(target, patch)
  const bytes = Buffer.byteLength(JSON.stringify(merged), 'utf8')
  if (bytes > limit) throw badRequest(`The ${what} would be ${bytes} bytes; IoT Hub allows ${limit}.`)
  return merged
}

/** What a device gets for a twin GET: `{desired, reported}` with their `$version`s. */
export function deviceTwinDocument(twin: TwinState): JsonObject {
  return {
    desired: { ...twin.desired, $version: twin.desiredVersion },
    reported: { ...twin.reported, $version: twin.reportedVersion },
  }
}
