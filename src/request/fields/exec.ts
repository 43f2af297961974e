// Exec bodies (Docker 20.10, API 1.41): create (types.ExecConfig) and start (types.ExecStartCheck).

import { bool, escape, fieldTable, harmless, ruled, string, strings, type FieldTable } from './table.js'

/** POST /containers/{id}/exec. Cmd is a plain []string here, not a StrSlice. */
export const execCreateTable: FieldTable = fieldTable('ExecConfig', {
  User: harmless(string, 'A user inside the container.'),
  Privileged: escape('privileged', bool),
  Tty: ruled('interactive', bool),
  AttachStdin: ruled('interactive', bool),
  AttachStderr: harmless(bool),
  AttachStdout: harmless(bool),
  Detach: harmless(bool),
  DetachKeys: harmless(string),
  Env: harmless(strings),
  WorkingDir: harmless(string),
  Cmd: ruled('exec-command', strings)
})

/** POST /exec/{id}/start. */
export const execStartTable: FieldTable = fieldTable('ExecStartCheck', {
  Detach: harmless(bool),
  Tty: ruled('interactive', bool, { note: 'Only how the stream is framed; the exec\'s own Tty was judged at create.' })
})
