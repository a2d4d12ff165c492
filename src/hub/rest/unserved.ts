/**
 * A REST request the hub does not serve (no such endpoint: 404, or a method not allowed there:
 * 405) is a `warning` event with its method and path, so a client calling an IoT Hub API the
 * emulator lacks (the query language, bulk registry, statistics, …) leaves a trace in the log.
 *
 * @module
 */
import type { HubEvents } from '../events.js'

/** IoT Hub's numeric code for "no such endpoint" (a missing device is 404001, and is no warning). */
const NO_ENDPOINT = 404000

/** Publishes the warning when `error` says the endpoint is not served; returns `error`. */
export function reportUnserved<E extends { status: number; numericCode: number }>(
  events: HubEvents,
  method: string | undefined,
  url: URL,
  error: E,
): E {
  if (error.numericCode !== NO_ENDPOINT && error.status !== 405) return error
  const path = url.pathname.slice(0, 200)
  const m = (method ?? 'GET').slice(0, 20)
  events.publish({
    event: 'warning',
    listener: 'https',
    method: m,
    path,
    message: `${m} ${JSON.stringify(path)} is not served (${error.status}): the hub serves IoT Hub's registry, twin and direct-method REST API (/devices/…, /twins/…) and /_emulator/…; the query language, jobs, bulk registry, statistics and the HTTPS device API are not served yet.`,
  })
  return error
}
