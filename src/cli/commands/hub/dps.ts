/**
 * `sas-token hub dps enroll|enroll-group|list|rm`: the emulator's DPS enrollments, over its
 * REST API (`PUT|DELETE /_emulator/dps/enrollments/{id}`, `…/enrollmentGroups/{id}`, and `GET`
 * of either table). Symmetric keys only, as the emulator's DPS. Keys are redacted unless
 * `--show-secrets`.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import type { ArgsOf, OptionsOf } from '../../command.js'
import type { DpsEnrollment, EnrollmentInput, EnrollmentKind } from '../../hub-client.js'
import { notice, writeJson, writeValue } from '../../output.js'
import { registerSecret } from '../../secrets.js'
import { connectHub, withHubOptions } from './connect.js'
import { describe, line, redacted } from './dps-render.js'
import { enrollments, groups, registrations } from './dps-service.js'

const showSecretsOption = {
  'show-secrets': { type: 'boolean', describe: 'Print the keys (redacted by default)' },
} as const

const keyOptions = {
  'primary-key': { type: 'string', describe: 'The primary key, base64 [default: a new one]' },
  'secondary-key': { type: 'string', describe: 'The secondary key, base64 [default: a new one]' },
  disabled: { type: 'boolean', describe: 'Create it disabled (its devices cannot register)' },
} as const

/** The body of an enroll command: the keys given (empty: the hub makes them) and the status. */
function inputOf(args: {
  primaryKey?: string | undefined
  secondaryKey?: string | undefined
  disabled?: boolean | undefined
  deviceId?: string | undefined
}): EnrollmentInput {
  registerSecret(args.primaryKey)
  registerSecret(args.secondaryKey)
  return {
    ...(args.primaryKey !== undefined && { primaryKey: args.primaryKey }),
    ...(args.secondaryKey !== undefined && { secondaryKey: args.secondaryKey }),
    ...(args.deviceId !== undefined && { deviceId: args.deviceId }),
    provisioningStatus: args.disabled === true ? 'disabled' : 'enabled',
  }
}

/** Writes what an enroll command stored. */
function render(
  e: DpsEnrollment,
  args: { json?: boolean | undefined; showSecrets?: boolean | undefined },
): void {
  const show = args.showSecrets === true
  if (args.json === true) writeJson(redacted(e, show))
  else writeValue(describe(e, show))
}

function enrollBuilder(y: Argv) {
  return withHubOptions(y)
    .positional('registration-id', { type: 'string', demandOption: true, describe: 'Registration id' })
    .options({
      'device-id': { type: 'string', describe: 'The device id it provisions [default: the registration id]' },
      ...keyOptions,
      ...showSecretsOption,
    })
    .example('$0 hub dps enroll reg1 --show-secrets', 'An individual enrollment; prints its keys')
}

async function enrollHandler(args: ArgsOf<typeof enrollBuilder>): Promise<void> {
  const e = await (await connectHub(args)).putEnrollment('enrollment', args.registrationId, inputOf(args))
  render(e, args)
}

const enroll: CommandModule<object, OptionsOf<typeof enrollBuilder>> = {
  command: 'enroll <registration-id>',
  describe: 'Create (or replace) an individual enrollment, symmetric key',
  builder: enrollBuilder,
  handler: enrollHandler,
}

function enrollGroupBuilder(y: Argv) {
  return withHubOptions(y)
    .positional('group-id', { type: 'string', demandOption: true, describe: 'Enrollment group id' })
    .options({ ...keyOptions, ...showSecretsOption })
    .example(
      '$0 hub dps enroll-group g1 --primary-key "$GROUP_KEY"',
      'A group; derive device keys with sas-token derive-key',
    )
}

async function enrollGroupHandler(args: ArgsOf<typeof enrollGroupBuilder>): Promise<void> {
  const e = await (await connectHub(args)).putEnrollment('group', args.groupId, inputOf(args))
  render(e, args)
}

const enrollGroup: CommandModule<object, OptionsOf<typeof enrollGroupBuilder>> = {
  command: 'enroll-group <group-id>',
  describe: 'Create (or replace) an enrollment group, symmetric key',
  builder: enrollGroupBuilder,
  handler: enrollGroupHandler,
}

const kindOf = (args: { group?: boolean | undefined; groups?: boolean | undefined }): EnrollmentKind =>
  args.group === true || args.groups === true ? 'group' : 'enrollment'

function listBuilder(y: Argv) {
  return withHubOptions(y)
    .options({
      groups: { type: 'boolean', describe: 'List the enrollment groups instead' },
      ...showSecretsOption,
    })
    .example('$0 hub dps list', 'id, status and device id, one enrollment a line')
    .example('$0 hub dps list --groups --json', 'The enrollment groups, keys redacted')
}

async function listHandler(args: ArgsOf<typeof listBuilder>): Promise<void> {
  const all = await (await connectHub(args)).listEnrollments(kindOf(args))
  const show = args.showSecrets === true
  if (args.json === true) writeJson(all.map((e) => redacted(e, show)))
  else if (all.length > 0) writeValue(all.map((e) => line(e, show)).join('\n'))
}

const list: CommandModule<object, OptionsOf<typeof listBuilder>> = {
  command: ['list', 'ls'],
  describe: 'List the individual enrollments (or, with --groups, the enrollment groups)',
  builder: listBuilder,
  handler: listHandler,
}

function rmBuilder(y: Argv) {
  return withHubOptions(y)
    .positional('id', {
      type: 'string',
      demandOption: true,
      describe: 'Registration id, or group id with --group',
    })
    .option('group', { type: 'boolean', describe: 'Delete the enrollment group of that id' })
    .example('$0 hub dps rm reg1', 'Deletes the enrollment reg1')
    .example('$0 hub dps rm g1 --group', 'Deletes the enrollment group g1')
}

async function rmHandler(args: ArgsOf<typeof rmBuilder>): Promise<void> {
  const kind = kindOf(args)
  await (await connectHub(args)).deleteEnrollment(kind, args.id)
  const what = kind === 'group' ? 'enrollmentGroupId' : 'registrationId'
  if (args.json === true) writeJson({ [what]: args.id, deleted: true })
  else notice(`deleted ${kind === 'group' ? 'enrollment group' : 'enrollment'} ${args.id}.`)
}

const rm: CommandModule<object, OptionsOf<typeof rmBuilder>> = {
  command: ['rm <id>', 'remove <id>'],
  describe: 'Delete an enrollment (or, with --group, an enrollment group)',
  builder: rmBuilder,
  handler: rmHandler,
}

function builder(y: Argv) {
  return y
    .command(enroll)
    .command(enrollGroup)
    .command(list)
    .command(rm)
    .command(enrollments)
    .command(groups)
    .command(registrations)
    .demandCommand(
      1,
      'Give a dps command: enrollments, groups, registrations (DPS service API), or enroll, enroll-group, list, rm.',
    )
}

/** The `hub dps` command module. */
export const dps: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'dps <command>',
  describe:
    "DPS: enrollments, groups, registrations (DPS's service API, the DPS connection string); enroll, enroll-group, list, rm (the emulator's shortcut)",
  builder,
  handler: () => {},
}
