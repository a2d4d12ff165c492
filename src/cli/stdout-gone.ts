/**
 * Whether stdout's reader has gone (`sas-token … | head -1`: `EPIPE`). Nothing written from then
 * on can reach anyone, so each long-running command (a batch, `hub`, `hub watch`) stops its work
 * when {@link stdoutGone} aborts, cleans up as on Ctrl-C, and lets the process exit by itself
 * (with 0: the reader has what it wanted). Nothing calls `process.exit()`.
 *
 * @module
 */

const controller = new AbortController()

/** Aborts once stdout's reader has gone. */
export const stdoutGone: AbortSignal = controller.signal

/** Marks stdout's reader gone: called by the stdout error handler (main.ts) on `EPIPE`. */
export function markStdoutGone(): void {
  controller.abort()
}

/** Calls `stop` once stdout's reader has gone (at once if it has); returns the way to stop listening. */
export function onStdoutGone(stop: () => void): () => void {
  if (stdoutGone.aborted) {
    stop()
    return () => {}
  }
  stdoutGone.addEventListener('abort', stop, { once: true })
  return () => stdoutGone.removeEventListener('abort', stop)
}
