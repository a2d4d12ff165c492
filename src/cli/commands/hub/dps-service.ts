/**
 * `sas-token hub dps enrollments|groups|registrations …`: DPS's service API (`/enrollments`,
 * `/enrollmentGroups`, `/registrations`, as `azure-iot-provisioning-service` calls it), with the
 * DPS connection string (`-c` or `$DPS_CONNECTION_STRING`). `list`, `get`, `add`, `remove` for
 * enrollments and groups (symmetric keys; `--etag` for If-Match); `list <group-id>`, `get`,
 * `remove` for registration states. Keys are redacted unless `--show-secrets`.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import type { ArgsOf } from '../../command.js'
import type { DpsRecord, DpsTable } from '../../hub-client.js'
import { notice, writeJson, writeValue } from '../../output.js'
import { registerSecret } from '../../secrets.js'
import { table } from '../../table.js'
import { connectDps, withDpsOptions } from './connect.js'
import { describe as describeEnrollment, line, redacted } from './dps-render.js'

const showSecrets = {
  'show-secrets': { type: 'boolean', describe: 'Print the keys (redacted by default)' },
} as const
const etagOption = {
  etag: {
    type: 'string',
    describe: 'Only if it still has this etag (If-Match); a stale one is refused (412)',
  },
} as const

/** A subcommand, typed by its own builder, as a step of its parent's builder. */
type Step = (y: Argv) => Argv
function step<U>(c: CommandModule<object, U>): Step {
  return (y) => y.command(c)
}

/** One record: `name  value` lines (with its etag), or JSON. */
function show(e: DpsRecord, args: { json?: boolean | undefined; showSecrets?: boolean | undefined }): void {
  const open = args.showSecrets === true
  if (args.json === true) writeJson(redacted(e, open))
  else writeValue(`${describeEnrollment(e, open)}\n${table([['etag', e.etag]])}`)
}

/** `list|get|add|remove` of one enrollment table. */
function tableCommand(name: string, t: DpsTable, noun: string): CommandModule {
  const idName = t === 'enrollments' ? 'registration-id' : 'group-id'
  const idField = t === 'enrollments' ? 'registrationId' : 'enrollmentGroupId'
  const listBuilder = (y: Argv) => withDpsOptions(y).options(showSecrets)
  const getBuilder = (y: Argv) =>
    withDpsOptions(y).positional(idName, { type: 'string', demandOption: true }).options(showSecrets)
  const addBuilder = (y: Argv) =>
    withDpsOptions(y)
      .positional(idName, { type: 'string', demandOption: true })
      .options({
        'device-id': {
          type: 'string',
          describe: 'Enrollments: the device id it provisions [default: the registration id]',
        },
        'primary-key': { type: 'string', describe: 'The primary key, base64 [default: a new one]' },
        'secondary-key': { type: 'string', describe: 'The secondary key, base64 [default: a new one]' },
        disabled: { type: 'boolean', describe: 'Create it disabled (its devices cannot register)' },
        ...etagOption,
        ...showSecrets,
      })
  const removeBuilder = (y: Argv) =>
    withDpsOptions(y).positional(idName, { type: 'string', demandOption: true }).options(etagOption)
  const idOf = (args: Record<string, unknown>): string => String(args[idName] ?? '')
  const commands: Step[] = [
    step({
      command: ['list', 'ls'],
      describe: `List the ${noun}s: id, status, device id (POST /${t}/query)`,
      builder: listBuilder,
      handler: async (args: ArgsOf<typeof listBuilder>) => {
        const all = await (await connectDps(args)).dpsList(t)
        const open = args.showSecrets === true
        if (args.json === true) writeJson(all.map((e) => redacted(e, open)))
        else if (all.length > 0) writeValue(all.map((e) => line(e, open)).join('\n'))
      },
    }),
    step({
      command: `get <${idName}>`,
      describe: `Show one ${noun}, with its etag`,
      builder: getBuilder,
      handler: async (args: ArgsOf<typeof getBuilder>) =>
        show(await (await connectDps(args)).dpsGet(t, idOf(args)), args),
    }),
    step({
      command: `add <${idName}>`,
      describe: `Create or update a ${noun}, symmetric key (PUT /${t}/{id})`,
      builder: addBuilder,
      handler: async (args: ArgsOf<typeof addBuilder>) => {
        registerSecret(args.primaryKey)
        registerSecret(args.secondaryKey)
        const body: Record<string, unknown> = {
          [idField]: idOf(args),
          attestation: {
            type: 'symmetricKey',
            symmetricKey: { primaryKey: args.primaryKey ?? '', secondaryKey: args.secondaryKey ?? '' },
          },
          provisioningStatus: args.disabled === true ? 'disabled' : 'enabled',
          ...(t === 'enrollments' && args.deviceId !== undefined && { deviceId: args.deviceId }),
          ...(args.etag !== undefined && { etag: args.etag }),
        }
        show(await (await connectDps(args)).dpsPut(t, idOf(args), body), args)
      },
    }),
    step({
      command: [`remove <${idName}>`, `rm <${idName}>`],
      describe: `Delete a ${noun} (DELETE /${t}/{id})`,
      builder: removeBuilder,
      handler: async (args: ArgsOf<typeof removeBuilder>) => {
        await (await connectDps(args)).dpsDelete(t, idOf(args), args.etag)
        if (args.json === true) writeJson({ [idField]: idOf(args), deleted: true })
        else notice(`deleted ${noun} ${idOf(args)}.`)
      },
    }),
  ]
  return {
    command: `${name} <command>`,
    describe: `DPS's service API: the ${noun}s (list, get, add, remove)`,
    builder: (y: Argv) =>
      commands.reduce((acc, add) => add(acc), y).demandCommand(1, 'Give list, get, add or remove.'),
    handler: () => {},
  }
}

/** `hub dps enrollments …`. */
export const enrollments: CommandModule = tableCommand('enrollments', 'enrollments', 'individual enrollment')
/** `hub dps groups …`. */
export const groups: CommandModule = tableCommand('groups', 'enrollmentGroups', 'enrollment group')

/** A registration state as a tab-separated line: registration id, status, device id, assigned hub. */
const registrationLine = (r: DpsRecord): string =>
  [r.registrationId ?? '', r.status ?? '', r.deviceId ?? '', r.assignedHub ?? ''].join('\t')

function showRegistration(r: DpsRecord, json: boolean | undefined): void {
  if (json === true) writeJson(r)
  else
    writeValue(
      table([
        ['registrationId', r.registrationId],
        ['status', r.status],
        ['deviceId', r.deviceId],
        ['assignedHub', r.assignedHub],
        ['createdDateTimeUtc', r.createdDateTimeUtc],
        ['etag', r.etag],
      ]),
    )
}

const regListBuilder = (y: Argv) =>
  withDpsOptions(y).positional('group-id', {
    type: 'string',
    demandOption: true,
    describe: 'Enrollment group id',
  })
const regGetBuilder = (y: Argv) =>
  withDpsOptions(y).positional('registration-id', { type: 'string', demandOption: true })
const regRemoveBuilder = (y: Argv) =>
  withDpsOptions(y).positional('registration-id', { type: 'string', demandOption: true }).options(etagOption)

const registrationCommands: Step[] = [
  step({
    command: ['list <group-id>', 'ls <group-id>'],
    describe: "The registration states of a group's devices (POST /registrations/{group}/query)",
    builder: regListBuilder,
    handler: async (args: ArgsOf<typeof regListBuilder>) => {
      const all = await (await connectDps(args)).dpsList('registrations', args.groupId)
      if (args.json === true) writeJson(all)
      else if (all.length > 0) writeValue(all.map(registrationLine).join('\n'))
    },
  }),
  step({
    command: 'get <registration-id>',
    describe: 'One registration state (GET /registrations/{id})',
    builder: regGetBuilder,
    handler: async (args: ArgsOf<typeof regGetBuilder>) =>
      showRegistration(
        await (await connectDps(args)).dpsGet('registrations', args.registrationId),
        args.json,
      ),
  }),
  step({
    command: ['remove <registration-id>', 'rm <registration-id>'],
    describe: 'Delete a registration state; the device stays in the hub (DELETE /registrations/{id})',
    builder: regRemoveBuilder,
    handler: async (args: ArgsOf<typeof regRemoveBuilder>) => {
      await (await connectDps(args)).dpsDelete('registrations', args.registrationId, args.etag)
      if (args.json === true) writeJson({ registrationId: args.registrationId, deleted: true })
      else notice(`deleted registration ${args.registrationId}.`)
    },
  }),
]

/** `hub dps registrations …`. */
export const registrations: CommandModule = {
  command: 'registrations <command>',
  describe: "DPS's service API: registration states (list <group-id>, get, remove)",
  builder: (y: Argv) =>
    registrationCommands.reduce((acc, add) => add(acc), y).demandCommand(1, 'Give list, get or remove.'),
  handler: () => {},
}
