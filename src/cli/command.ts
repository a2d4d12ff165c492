/**
 * Typed command modules: each command's argv is inferred from its option objects, through its
 * builder, so handlers and builders agree without casts.
 *
 * @module
 */
import type { ArgumentsCamelCase, Argv } from 'yargs'

/** The options a command's builder declares, as yargs infers them. */
export type OptionsOf<B> = B extends (y: Argv) => Argv<infer U> ? U : never

/** The argv a command's handler receives: {@link OptionsOf}, camel-cased as well. */
export type ArgsOf<B> = ArgumentsCamelCase<OptionsOf<B>>
