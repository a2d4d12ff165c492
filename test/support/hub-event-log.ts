// What a hub has emitted (its `event` events, in order), and a wait for the first that matches,
// whether it came already or is still to come.

/** An event of the hub, as a test reads it. */
export type HubEventLike = { event: string; deviceId?: string; moduleId?: string } & Record<string, unknown>

/** The events of one hub, from {@link HubEventLog.follow} on. */
export class HubEventLog<E extends { event: string } = HubEventLike> {
  /** Every event so far, oldest first. */
  readonly seen: E[] = []
  private readonly waiters = new Set<{ match: (e: E) => boolean; resolve: (e: E) => void }>()

  /** Records every `event` the emitter publishes from now on. */
  follow(events: NodeJS.EventEmitter): void {
    events.on('event', (e: E) => {
      this.seen.push(e)
      for (const w of this.waiters)
        if (w.match(e)) {
          this.waiters.delete(w)
          w.resolve(e)
        }
    })
  }

  /**
   * The first event (already seen, or to come) that matches.
   * @param ms when given, how long to wait for it.
   * @throws Error `no such event in <ms> ms`, with the last events seen, when `ms` pass first.
   */
  waitFor(match: (e: E) => boolean, ms?: number): Promise<E> {
    const found = this.seen.find(match)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise((resolve, reject) => {
      const w = { match, resolve }
      this.waiters.add(w)
      if (ms === undefined) return
      setTimeout(() => {
        if (this.waiters.delete(w))
          reject(new Error(`no such event in ${ms} ms; seen: ${JSON.stringify(this.seen.slice(-8))}`))
      }, ms).unref()
    })
  }
}
