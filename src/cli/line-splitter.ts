/**
 * Splitting batch input into lines, chunk by chunk, in linear time: at `\n`, `\r\n` or a lone
 * `\r`, with a cap on the length of a line, so that an over-long line is refused without being
 * held whole in memory.
 *
 * @module
 */

/** The longest line a batch reads; a longer one gets an error record (`ERR_BATCH_LINE_TOO_LONG`). */
export const MAX_LINE_CHARS = 16 * 1024

/** The most of an input line an error record echoes. */
export const ECHO_CHARS = 120

/** One line as the splitter hands it over: its text, or the fact that it was too long. */
export type Line = { text: string; tooLong?: undefined } | { text: string; tooLong: number }

/**
 * Splits text into lines at `\n`, `\r\n` or a lone `\r`, chunk by chunk, in linear time. A line
 * longer than `max` characters is not kept whole: the splitter keeps its first characters and
 * counts the rest, and hands it over as `{ text: prefix, tooLong: length }`.
 */
export class LineSplitter {
  #pending = ''
  #pendingLength = 0
  /** The previous chunk ended with `\r`: a `\n` opening this one belongs to it. */
  #afterCr = false
  readonly #max: number
  readonly #keep: number

  constructor(max = MAX_LINE_CHARS, keep = ECHO_CHARS) {
    this.#max = max
    this.#keep = keep
  }

  /** Calls `emit` for every line that `chunk` completes. */
  push(chunk: string, emit: (line: Line) => void): void {
    let start = 0
    if (this.#afterCr && chunk.charCodeAt(0) === 10) start = 1
    this.#afterCr = false
    const ends = /[\r\n]/g
    ends.lastIndex = start
    for (let m = ends.exec(chunk); m !== null; m = ends.exec(chunk)) {
      const at = m.index
      this.#append(chunk, start, at)
      emit(this.#take())
      if (chunk.charCodeAt(at) === 13) {
        if (at + 1 === chunk.length) this.#afterCr = true
        else if (chunk.charCodeAt(at + 1) === 10) ends.lastIndex = at + 2
      }
      start = ends.lastIndex
    }
    this.#append(chunk, start, chunk.length)
  }

  /** Hands over the last line, when the input did not end with a line break. */
  end(emit: (line: Line) => void): void {
    if (this.#pendingLength > 0) emit(this.#take())
  }

  #append(chunk: string, from: number, to: number): void {
    const length = to - from
    if (length === 0) return
    if (this.#pendingLength + length <= this.#max) this.#pending += chunk.slice(from, to)
    else if (this.#pending.length < this.#keep)
      this.#pending += chunk.slice(from, from + this.#keep - this.#pending.length)
    this.#pendingLength += length
  }

  #take(): Line {
    const line: Line =
      this.#pendingLength > this.#max
        ? { text: this.#pending.slice(0, this.#keep), tooLong: this.#pendingLength }
        : { text: this.#pending }
    this.#pending = ''
    this.#pendingLength = 0
    return line
  }
}
