// A bound on one step of a test, so that a step that never comes fails (naming what it waited
// for) instead of hanging the file until the runner's own timeout.

/**
 * `promise`, or a rejection naming `what` once `ms` have passed without it.
 * @throws Error `<what> did not come within <s> s` when `ms` pass first (the promise is left to settle).
 */
export function within<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not come within ${ms / 1000} s`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}
