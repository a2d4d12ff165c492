/**
 * The one guard between aedes and the hub's operations: a protocol callback that throws
 * (a bug, or state the operation did not expect) is answered as a refusal on that connection
 * and reported as a `warning` event, so that one operation never ends the process or another
 * client's session.
 *
 * @module
 */
import type { AedesOptions } from 'aedes'

/**
 * Wraps a protocol callback: when `handler` throws, `warn` reports it and `refuse` answers the
 * connection (for aedes' `authorize*` callbacks, by calling their `done` with the error).
 */
export function guarded<A extends unknown[]>(
  what: string,
  warn: (message: string) => void,
  refuse: (err: Error, ...args: A) => void,
  handler: (...args: A) => void,
): (...args: A) => void {
  return (...args: A): void => {
    try {
      handler(...args)
    } catch (err) {
      const message = `${what} failed inside the hub (${err instanceof Error ? err.message : String(err)}); the hub goes on.`
      try {
        warn(message)
        refuse(new Error(message), ...args)
      } catch {
        // the refusal itself failed (its socket is gone): nothing is left to answer
      }
    }
  }
}

/**
 * Returns aedes options whose `preConnect`, `authenticate`, `authorizePublish` and
 * `authorizeSubscribe` are guarded: a throw refuses that CONNECT (return code 3, server
 * unavailable, once authenticating), closes that publisher, or refuses that subscription, and
 * `warn` reports it.
 */
export function guardBrokerOptions(warn: (message: string) => void, o: AedesOptions): AedesOptions {
  const { preConnect, authenticate, authorizePublish, authorizeSubscribe } = o
  return {
    ...o,
    ...(preConnect && {
      preConnect: guarded<Parameters<typeof preConnect>>(
        'A CONNECT',
        warn,
        (err, _c, _p, done) => done(err, false),
        preConnect,
      ),
    }),
    ...(authenticate && {
      authenticate: guarded<Parameters<typeof authenticate>>(
        'CONNECT authentication',
        warn,
        (err, _c, _u, _p, done) => done(Object.assign(err, { returnCode: 3 as const }), false),
        authenticate,
      ),
    }),
    ...(authorizePublish && {
      authorizePublish: guarded<Parameters<typeof authorizePublish>>(
        'A publish',
        warn,
        (err, _c, _p, done) => done(err),
        authorizePublish,
      ),
    }),
    ...(authorizeSubscribe && {
      authorizeSubscribe: guarded<Parameters<typeof authorizeSubscribe>>(
        'A subscription',
        warn,
        (err, _c, _s, done) => done(err, null),
        authorizeSubscribe,
      ),
    }),
  }
}

/**
 * Wraps a broker event listener (`clientReady`, `subscribe`, …): a throw is reported by `warn`
 * and goes no further, so the broker and the event's other listeners go on.
 */
export function guardedListener<A extends unknown[]>(
  what: string,
  warn: (message: string) => void,
  listener: (...args: A) => void,
): (...args: A) => void {
  return guarded(what, warn, () => undefined, listener)
}
