// Every `users.<name>.sshKeys` line must be a key the SSH bridge can use, with options it carries out: a damaged
// line, a private key pasted by mistake or an option that would be ignored is an error when the policy is loaded
// (validate, serve, reload), naming the JSON path, instead of a warning in the serve log.

import { AuthorizedKeyError, parseAuthorizedKey } from '../ssh/authorized-keys.js'
import type { PolicyProblem, UserDocument } from './compile.js'

export function checkSshKeys (users: Readonly<Record<string, UserDocument>> | undefined, problems: PolicyProblem[]): void {
  for (const [user, doc] of Object.entries(users ?? {})) {
    doc.sshKeys?.forEach((line, index) => {
      try {
        parseAuthorizedKey(line)
      } catch (err) {
        if (!(err instanceof AuthorizedKeyError)) throw err
        problems.push({ path: `$.users${member(user)}.sshKeys[${index}]`, message: err.message })
      }
    })
  }
}

function member (name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`
}
