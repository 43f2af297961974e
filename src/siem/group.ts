// A group name or number (outputs.files.group) as the number chown takes. Node has no getgrnam, so names are
// looked up in /etc/group, as for the local groups a SIEM agent's package makes (fluent-bit, vector).

import { readFile } from 'node:fs/promises'
import { PortcullisError } from '../errors.js'

export async function groupId (group: string, file = '/etc/group'): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new PortcullisError('PORTCULLIS_OUTPUT_GROUP', group, `cannot read ${file}: ${(err as Error).message}`)
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid)
  }
  throw new PortcullisError('PORTCULLIS_OUTPUT_GROUP', group, `${file} does not list it`)
}
