/**
 * `sas-token hub query "SELECT …" [--page-size n] [--json]`: runs an IoT Hub query
 * (`POST /devices/query`) and prints every result, page after page. `--json` prints NDJSON, one
 * result a line, as the pages come; otherwise twins print as `id  status  connectionState`
 * lines and projections, aggregates and device jobs as a tab-separated table with a header.
 *
 * @module
 */
import type { Argv, CommandModule } from 'yargs'
import type { ArgsOf, OptionsOf } from '../../command.js'
import { escapeTerminal } from '../../escape-terminal.js'
import { writeValue } from '../../output.js'
import { connectHub, withHubOptions } from './connect.js'

function builder(y: Argv) {
  return withHubOptions(y)
    .positional('sql', {
      type: 'string',
      demandOption: true,
      describe: 'The query, as SELECT * FROM devices WHERE …',
    })
    .option('page-size', {
      type: 'number',
      describe: 'Results a page (x-ms-max-item-count); default the hub’s',
    })
    .example(
      `$0 hub query "SELECT * FROM devices WHERE tags.site = 'lab'"`,
      'id, status and connection state of each twin',
    )
    .example(`$0 hub query "SELECT status, COUNT() AS n FROM devices GROUP BY status"`, 'A table: status, n')
    .example(`$0 hub query "SELECT * FROM devices" --json | jq .deviceId`, 'NDJSON: one twin a line')
}

const text = (v: unknown): string => escapeTerminal(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))

/** A twin's line: `id[/module]  status  connectionState`. */
function twinLine(t: Record<string, unknown>): string {
  const id = typeof t.moduleId === 'string' ? `${text(t.deviceId)}/${text(t.moduleId)}` : text(t.deviceId)
  return [id, text(t.status ?? ''), text(t.connectionState ?? '')].join('\t')
}

/** Rows as a tab-separated table: one column per key, in the order the keys first appear. */
function rowsTable(rows: readonly unknown[]): string {
  const objects = rows.map((r) =>
    r !== null && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>) : { value: r },
  )
  const columns = [...new Set(objects.flatMap((o) => Object.keys(o)))]
  return [
    columns.map(text),
    ...objects.map((o) => columns.map((c) => (Object.hasOwn(o, c) ? text(o[c]) : ''))),
  ]
    .map((cells) => cells.join('\t'))
    .join('\n')
}

async function handler(args: ArgsOf<typeof builder>): Promise<void> {
  const hub = await connectHub(args)
  const pages = hub.query(args.sql, args.pageSize === undefined ? {} : { pageSize: args.pageSize })
  const raw: unknown[] = []
  for await (const page of pages) {
    if (args.json === true) {
      for (const item of page.items) writeValue(JSON.stringify(item))
    } else if (page.itemType === 'twin') {
      if (page.items.length > 0)
        writeValue(page.items.map((t) => twinLine(t as Record<string, unknown>)).join('\n'))
    } else raw.push(...page.items)
  }
  if (raw.length > 0) writeValue(rowsTable(raw))
}

/** The `hub query` command module. */
export const query: CommandModule<object, OptionsOf<typeof builder>> = {
  command: 'query <sql>',
  describe:
    'Run an IoT Hub query (SELECT … FROM devices | devices.modules | devices.jobs); --json for NDJSON',
  builder,
  handler,
}
