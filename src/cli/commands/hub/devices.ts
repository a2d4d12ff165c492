/**
 * `sas-token hub devices add|list|show|rm`: the hub's identity registry, over its REST API
 * (`PUT|GET|DELETE /devices/{id}[/modules/{mid}]`, `GET /devices/`).
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import { formatConnectionString } from '../../../connection-string.js'
import { SasTokenError } from '../../../errors.js'
import type { ArgsOf, OptionsOf } from '../../command.js'
import type { HubClient, HubDevice } from '../../hub-client.js'
import { notice, writeJson, writeValue } from '../../output.js'
import { registerSecret } from '../../secrets.js'
import { table } from '../../table.js'
import { connectHub, withHubOptions } from './connect.js'

const target = (args: { id: string; module?: string | undefined }) => ({
  deviceId: args.id,
  moduleId: args.module,
})

const withId = (y: Argv) =>
  withHubOptions(y)
    .positional('id', { type: 'string', demandOption: true, describe: 'Device id' })
    .option('module', { alias: 'm', type: 'string', describe: 'A module of the device' })

const showSecretsOption = {
  'show-secrets': { type: 'boolean', describe: 'Print the keys (redacted by default)' },
} as const

/** The device's (or module's) connection string with its primary key. */
function connectionStringOf(hub: HubClient, d: HubDevice): string {
  const key = d.authentication?.symmetricKey?.primaryKey
  if (typeof key !== 'string' || key === '')
    throw new SasTokenError(
      'ERR_KEY_REQUIRED',
      `${d.moduleId === undefined ? 'device' : 'module'} ${d.deviceId} has no symmetric key (authentication type ${d.authentication?.type ?? 'unknown'}), so it has no connection string.`,
    )
  registerSecret(key)
  registerSecret(d.authentication?.symmetricKey?.secondaryKey ?? undefined)
  const moduleId = typeof d.moduleId === 'string' && d.moduleId !== '' ? d.moduleId : undefined
  return formatConnectionString(
    moduleId === undefined
      ? { kind: 'device', hostName: hub.hostName, deviceId: d.deviceId, sharedAccessKey: key }
      : { kind: 'module', hostName: hub.hostName, deviceId: d.deviceId, moduleId, sharedAccessKey: key },
  )
}

/** The description with its keys replaced by `<redacted>`, unless asked for. */
function redacted(d: HubDevice, show: boolean): HubDevice {
  const keys = d.authentication?.symmetricKey
  if (show || keys === undefined) return d
  const hide = (k: string | null | undefined) => (typeof k === 'string' && k !== '' ? '<redacted>' : k)
  return {
    ...d,
    authentication: {
      ...d.authentication,
      symmetricKey: { primaryKey: hide(keys.primaryKey), secondaryKey: hide(keys.secondaryKey) },
    },
  }
}

const name = (d: HubDevice): string =>
  typeof d.moduleId === 'string' && d.moduleId !== '' ? `${d.deviceId}/${d.moduleId}` : d.deviceId

function addBuilder(y: Argv) {
  return withId(y)
    .option('disabled', { type: 'boolean', describe: 'Create it disabled (it cannot connect)' })
    .example('$0 hub devices add dev1', 'Prints HostName=…;DeviceId=dev1;SharedAccessKey=…')
    .example('$0 hub devices add dev1 --module mod1', 'A module identity of dev1')
}

async function addHandler(args: ArgsOf<typeof addBuilder>): Promise<void> {
  const hub = await connectHub(args)
  const d = await hub.createDevice(target(args), args.disabled === true ? { status: 'disabled' } : {})
  const connectionString = connectionStringOf(hub, d)
  if (args.json === true)
    writeJson({
      deviceId: d.deviceId,
      ...(args.module !== undefined && { moduleId: args.module }),
      ...(d.status !== undefined && { status: d.status }),
      connectionString,
    })
  else writeValue(connectionString)
}

const add: CommandModule<object, OptionsOf<typeof addBuilder>> = {
  command: 'add <id>',
  describe: 'Create a device (or module) and print its connection string',
  builder: addBuilder,
  handler: addHandler,
}

function listBuilder(y: Argv) {
  return withHubOptions(y)
    .options(showSecretsOption)
    .option('device', { alias: 'd', type: 'string', describe: "List this device's modules" })
    .example('$0 hub devices list', 'id, status and connection state, one device a line')
    .example('$0 hub devices list --device dev1', "dev1's modules, each with dev1's status")
    .example('$0 hub devices list --json', 'The registry entries, keys redacted')
}

async function listHandler(args: ArgsOf<typeof listBuilder>): Promise<void> {
  const hub = await connectHub(args)
  const devices = await hub.listDevices(args.device)
  if (args.json === true) writeJson(devices.map((d) => redacted(d, args.showSecrets === true)))
  else if (devices.length > 0) {
    // IoT Hub's modules have no status of their own: a module connects while its device is enabled
    const deviceStatus =
      args.device === undefined ? undefined : (await hub.getDevice({ deviceId: args.device })).status
    writeValue(
      devices
        .map((d) => [name(d), d.status ?? deviceStatus ?? '', d.connectionState ?? ''].join('\t'))
        .join('\n'),
    )
  }
}

const list: CommandModule<object, OptionsOf<typeof listBuilder>> = {
  command: ['list', 'ls'],
  describe: 'List the devices (or the modules of --device)',
  builder: listBuilder,
  handler: listHandler,
}

function showBuilder(y: Argv) {
  return withId(y)
    .options(showSecretsOption)
    .example('$0 hub devices show dev1 --json', 'The registry entry, keys redacted')
}

async function showHandler(args: ArgsOf<typeof showBuilder>): Promise<void> {
  const hub = await connectHub(args)
  const d = await hub.getDevice(target(args))
  const secrets = args.showSecrets === true
  if (args.json === true) {
    writeJson(redacted(d, secrets))
    return
  }
  const keys = redacted(d, secrets).authentication?.symmetricKey
  writeValue(
    table([
      ['id', name(d)],
      ['status', d.status],
      ['connectionState', d.connectionState],
      ['authentication', d.authentication?.type],
      ['primaryKey', keys?.primaryKey ?? undefined],
      ['secondaryKey', keys?.secondaryKey ?? undefined],
      ['c2dQueued', d.cloudToDeviceMessageCount],
      ['connectionString', secrets && keys?.primaryKey ? connectionStringOf(hub, d) : undefined],
    ]),
  )
}

const show: CommandModule<object, OptionsOf<typeof showBuilder>> = {
  command: 'show <id>',
  describe: 'Show a device (or module); keys redacted unless --show-secrets',
  builder: showBuilder,
  handler: showHandler,
}

function rmBuilder(y: Argv) {
  return withId(y).example('$0 hub devices rm dev1', 'Deletes dev1 and its twin')
}

async function rmHandler(args: ArgsOf<typeof rmBuilder>): Promise<void> {
  await (await connectHub(args)).deleteDevice(target(args))
  if (args.json === true)
    writeJson({
      deviceId: args.id,
      ...(args.module !== undefined && { moduleId: args.module }),
      deleted: true,
    })
  else notice(`deleted ${args.module === undefined ? args.id : `${args.id}/${args.module}`}.`)
}

const rm: CommandModule<object, OptionsOf<typeof rmBuilder>> = {
  command: ['rm <id>', 'remove <id>'],
  describe: 'Delete a device (or module)',
  builder: rmBuilder,
  handler: rmHandler,
}

function builder(y: Argv) {
  return y
    .command(add)
    .command(list)
    .command(show)
    .command(rm)
    .demandCommand(1, 'Give a devices command: add, list, show or rm.')
}

/** The `hub devices` command module. */
export const devices: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'devices <command>',
  describe: "The hub's device registry: add, list, show, rm",
  builder,
  handler: () => {},
}
