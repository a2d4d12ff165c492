// An operator script written with the official DPS service SDK (azure-iot-provisioning-service,
// its ProvisioningServiceClient from a connection string), unmodified. Run as a child process
// with NODE_EXTRA_CA_CERTS set to the hub's CA. The test drives it: each stdin line is
// {"id", "op", "args", "cs"?} (op a ProvisioningServiceClient method; "queryEnrollments",
// "queryGroups" and "queryRegistrations" page through a query to its end), and each answer is
// one stdout line {"id", "ok": true, "result", "pages"?} or {"id", "ok": false, "name", "status"}.
//   env DPS_CONNECTION_STRING
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { report } from './child-report.js'

const require = createRequire(import.meta.url)

interface Query {
  hasMoreResults: boolean
  next(done: (err: Error | null, result?: unknown[]) => void): void
}
type Client = Record<string, (...args: unknown[]) => Promise<{ responseBody?: unknown } | undefined>> & {
  createIndividualEnrollmentQuery(spec: unknown, pageSize?: number): Query
  createEnrollmentGroupQuery(spec: unknown, pageSize?: number): Query
  createEnrollmentGroupDeviceRegistrationStateQuery(spec: unknown, groupId: string, pageSize?: number): Query
}
const { ProvisioningServiceClient } = require('azure-iot-provisioning-service') as {
  ProvisioningServiceClient: { fromConnectionString(cs: string): Client }
}

async function all(query: Query): Promise<{ result: unknown[]; pages: number }> {
  const result: unknown[] = []
  let pages = 0
  while (query.hasMoreResults) {
    // the callback form: next() without arguments would ask for the first page again
    const page = await new Promise<unknown[]>((resolve, reject) =>
      query.next((err, items) => (err ? reject(err) : resolve(items ?? []))),
    )
    pages += 1
    result.push(...page)
  }
  return { result, pages }
}

async function run(command: { op: string; args: unknown[]; cs?: string }): Promise<Record<string, unknown>> {
  const client = ProvisioningServiceClient.fromConnectionString(
    command.cs ?? process.env.DPS_CONNECTION_STRING ?? '',
  )
  const [a, b, c] = command.args
  switch (command.op) {
    case 'queryEnrollments':
      return all(client.createIndividualEnrollmentQuery(a, b as number | undefined))
    case 'queryGroups':
      return all(client.createEnrollmentGroupQuery(a, b as number | undefined))
    case 'queryRegistrations':
      return all(
        client.createEnrollmentGroupDeviceRegistrationStateQuery(a, b as string, c as number | undefined),
      )
    default: {
      const method = client[command.op]
      if (method === undefined) throw new Error(`no method ${command.op}`)
      const answer = await method.apply(client, command.args)
      return { result: answer?.responseBody }
    }
  }
}

for await (const text of createInterface({ input: process.stdin })) {
  if (text.trim() === '') continue
  const command = JSON.parse(text) as { id: number; op: string; args: unknown[]; cs?: string }
  try {
    report({ id: command.id, ok: true, ...(await run(command)) })
  } catch (err) {
    const e = err as Error & { response?: { statusCode?: number }; responseBody?: string }
    report({
      id: command.id,
      ok: false,
      name: e.name,
      message: e.message,
      status: e.response?.statusCode,
      body: e.responseBody,
    })
  }
}
