/**
 * Examples in `--help`, laid out so that no command wraps mid-way: each example is a comment
 * line and the command below it, long commands continued with `\`, every line under 80
 * columns. (yargs' own `.example()` puts commands in a narrow column and wraps them.)
 *
 * @module
 */
import type { Argv } from 'yargs'

/** One example: what it does, and the command lines (joined with ` \` continuations). */
export type Example = readonly [description: string, ...lines: string[]]

/** Adds `examples` to a command's help, as its epilogue, above the exit codes. */
export function withExamples<T>(y: Argv<T>, examples: readonly Example[]): Argv<T> {
  const text = examples
    .map(([description, ...lines]) =>
      [
        `  # ${description}`,
        ...lines.map((line, i) => `${i === 0 ? '  ' : '      '}${line}${i < lines.length - 1 ? ' \\' : ''}`),
      ].join('\n'),
    )
    .join('\n')
  return y.epilogue(
    `Examples:\n${text}\n\nExit codes: 0 ok, 1 failure (bad input, invalid or expired token), 2 usage error.`,
  )
}
