/**
 * The `sas-token hub …` subcommands (devices, twin, call, send, watch). The hub-cli branch
 * replaces this list.
 *
 * @module
 */
import type { CommandModule } from 'yargs'

/** Every `hub` subcommand. */
export const hubSubcommands: CommandModule[] = []
