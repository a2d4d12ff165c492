// Placeholder entry so the bundle builds; the CLI lands with its own issue.
process.stderr.write('sas-token: the CLI is not built yet\n')
process.exitCode = 1
