// The child's side of support/child.ts: a program a test spawns reports each step as one JSON
// line on stdout (what Reporter.waitFor reads), and stops when the test closes its stdin.

/** Writes `line` to stdout as one line of JSON. */
export function report(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

/**
 * A node-style callback API as a promise.
 * @throws the error `f` calls back with.
 */
export function promised<T = unknown>(f: (cb: (err?: Error | null, result?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => f((err, result) => (err ? reject(err) : resolve(result as T))))
}

/** Keeps the process alive until stdin ends (Reporter.stop ends it), then calls `stop`. */
export function onStdinEnd(stop: () => void): void {
  process.stdin.resume()
  process.stdin.on('end', stop)
}
