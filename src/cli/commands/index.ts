/**
 * Every `sas-token` command, in the order `--help` lists them.
 *
 * @module
 */
import type { CommandModule } from 'yargs'
import { deriveKey } from './derive-key.js'
import { doctor } from './doctor.js'
import { generate } from './generate.js'
import { hub } from './hub.js'
import { inspect } from './inspect.js'
import { mqtt } from './mqtt.js'
import { topic } from './topic.js'

/** Each module types its own argv; yargs' `command()` takes them as plain modules. */
export const commands = [generate, inspect, mqtt, deriveKey, topic, doctor, hub] as unknown as CommandModule[]
