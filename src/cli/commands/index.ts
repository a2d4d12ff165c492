/**
 * Every `sas-token` command, in the order `--help` lists them.
 *
 * @module
 */
import type { Argv } from 'yargs'
import { deriveKey } from './derive-key.js'
import { generate } from './generate.js'
import { inspect } from './inspect.js'
import { mqtt } from './mqtt.js'
import { topic } from './topic.js'

/** Registers every command; each module types its own argv, so each is added on its own. */
export function withCommands<T>(y: Argv<T>): Argv<T> {
  return y.command(generate).command(inspect).command(mqtt).command(deriveKey).command(topic)
}
