/**
 * Whether stdout can take nothing more: its reader has gone (`sas-token … | head -1`: `EPIPE`,
 * exit 0: the reader has what it wanted), or a write failed (a full disk: exit 1). Nothing
 * written from then on reaches anyone, so each long-running command (a batch, `hub`, `hub
 * watch`) stops its work when {@link stdoutGone} aborts, cleans up as on Ctrl-C, and lets the
 * process exit by itself. Nothing calls `process.exit()`.
 *
 * @module
 */

const controller = new AbortController()

/** Aborts once stdout can take nothing more (see the module comment). */
export const stdoutGone: AbortSignal = controller.signal

/** Marks stdout gone: called by the stdout error handler (main.ts). */
export function markStdoutGone(): void {
  controller.abort()
}

/** Calls `stop` once stdout is gone (at once if it is); returns the way to stop listening. */
export function onStdoutGone(stop: () => void): () => void {
  if (stdoutGone.aborted) {
    stop()
    return () => {}
  }
  stdoutGone.addEventListener('abort', stop, { once: true })
  return () => stdoutGone.removeEventListener('abort', stop)
}
