// The role's exec rules, applied alike to an exec's create body and, at start and resize, to the exec as the daemon
// keeps it; and the `interactive` rule for every other interactive stream (container create with a TTY or stdin,
// attach with stdin). An exec may be started only by its creator or an unsafe role.

import type { ExecCreator, Identity, ResolvedResource, StreamFacts } from './types.js'
import type { CompiledRole } from './policy-model.js'
import { findCommandText } from './command-text.js'
import type { DenyCode } from './decision.js'

export interface RuleFailure {
  code: DenyCode
  reason: string
}

/** Where the call comes from and where the SSH bridge is, for hints (a subset of DecideOptions). */
export interface ChannelOptions {
  channel?: 'docker' | 'bridge'
  /** From the policy's bridge.listen, whose default lives in the policy schema. */
  bridgePort: number
  bridgeHost?: string
  /** The SSH bridge does not listen on this host (off in the policy, or it failed to start): no port to point to. */
  bridgeOff?: boolean
}

/** What an exec runs, from its create body or from the daemon's record of it. */
export interface ExecProcessFacts {
  cmd: readonly string[]
  tty: boolean
  stdin: boolean
  /** Judged here only at start: at create the body's Privileged is already an escape. */
  privileged: boolean
}

/** null when the role lets this exec process run; `when` says which call is judged. */
export function judgeExecProcess (role: CompiledRole, exec: ExecProcessFacts, options: ChannelOptions, when: 'create' | 'start'): RuleFailure | null {
  if (exec.privileged && !role.unsafe) {
    return { code: 'UNSAFE_REQUIRED', reason: `exec ${when} reaches the host: privileged (the exec was created with --privileged). Only unsafe roles may; role ${role.name} is not. Create your own exec without --privileged` }
  }
  const interactive = exec.tty || exec.stdin
  if (interactive && role.interactive === 'deny') {
    return { code: 'EXEC_INTERACTIVE', reason: `role ${role.name} may not run interactive exec (-i/-t); run the command without -i and -t` }
  }
  if (interactive && role.interactive === 'bridge-only' && options.channel !== 'bridge') {
    return { code: 'EXEC_INTERACTIVE', reason: `role ${role.name} may open interactive sessions only through the recorded SSH bridge: ${bridgeHint(options)}; or run the command without -i and -t` }
  }
  const line = exec.cmd.join(' ')
  if (role.denyCommands.matches(line) || (role.allowCommands !== null && !role.allowCommands.matches(line))) {
    return { code: 'EXEC_COMMAND', reason: `role ${role.name} may not run "${line}" in containers` }
  }
  return judgeCommandText(role, exec, options)
}

/** `exec.commandStrings`: command globs cannot judge a string a shell or interpreter will read, so such text is refused. */
function judgeCommandText (role: CompiledRole, exec: ExecProcessFacts, options: ChannelOptions): RuleFailure | null {
  if (role.commandStrings === 'allow') return null
  if (role.commandStrings === 'bridge-only' && options.channel === 'bridge') return null
  const found = findCommandText(exec.cmd, exec.stdin)
  if (found === null) return null
  const where = role.commandStrings === 'bridge-only'
    ? `; a shell is allowed only through the recorded SSH bridge: ${bridgeHint(options)}`
    : ''
  return {
    code: 'EXEC_COMMAND_TEXT',
    reason: `role ${role.name} may not run command text in containers: ${found}. Command rules match the command's words, ` +
      `not what a shell or interpreter makes of a string, so role ${role.name} (exec.commandStrings: ${role.commandStrings}) refuses it. ` +
      `Run the program directly with its arguments (docker exec <container> ls -l /), without sh -c and without -i${where}`
  }
}

/** Exec start and resize: the caller must be the exec's creator (or hold an unsafe role), and the exec itself passes the rules. */
export function judgeExecTarget (role: CompiledRole, action: string, target: ResolvedResource | undefined, identity: Identity, options: ChannelOptions): RuleFailure | null {
  if (action !== 'exec.start' && action !== 'exec.resize') return null
  // An exec that does not exist: the daemon answers 404 and runs nothing.
  if (target === undefined || !target.exists) return null
  const exec = target.exec
  if (exec === undefined) {
    return { code: 'EXEC_NOT_OWNER', reason: `portcullis could not read what exec ${short(target)} would run, so it refuses to ${verb(action)} it` }
  }
  if (!role.unsafe && !isCreator(exec.creator, identity)) {
    const whose = exec.creator === null || exec.creator === undefined
      ? 'portcullis did not see who created it (made before portcullis started, or forgotten)'
      : exec.creator.user === identity.user ? 'it was created in another session (the SSH bridge\'s execs belong to their session)' : 'it was created by another user'
    return {
      code: 'EXEC_NOT_OWNER',
      reason: `exec ${short(target)} may be ${action === 'exec.start' ? 'started' : 'resized'} only by its creator or an unsafe role, and ${whose}; ` +
        `role ${role.name} is not unsafe. Create your own exec: docker exec <container> <command>`
    }
  }
  return judgeExecProcess(role, { cmd: exec.cmd, tty: exec.tty, stdin: exec.stdin, privileged: exec.privileged }, options, 'start')
}

/** The `interactive` rule for container create with a TTY or stdin and for attach with stdin. */
export function judgeStream (role: CompiledRole, stream: StreamFacts | undefined, options: ChannelOptions): RuleFailure | null {
  if (stream === undefined || (!stream.tty && !stream.stdin)) return null
  if (role.interactive === 'deny') {
    return { code: 'INTERACTIVE_STREAM', reason: `role ${role.name} may not open interactive streams, and this is ${stream.detail}; drop ${stream.drop}` }
  }
  if (role.interactive === 'bridge-only' && options.channel !== 'bridge') {
    return {
      code: 'INTERACTIVE_STREAM',
      reason: `role ${role.name} may open interactive sessions only through the recorded SSH bridge (${bridgeHint(options)}), ` +
        `and this is ${stream.detail}; drop ${stream.drop}`
    }
  }
  return null
}

/** Same user, and the same SSH bridge session (or none on both sides). */
export function isCreator (creator: ExecCreator | null | undefined, identity: Pick<Identity, 'user' | 'session'>): boolean {
  if (creator === null || creator === undefined || creator.user === null || identity.user === null) return false
  return creator.user === identity.user && (creator.session ?? null) === (identity.session ?? null)
}

function bridgeHint (options: ChannelOptions): string {
  if (options.bridgeOff === true) return 'the SSH bridge is off on this host, so ask an operator to turn it on (bridge.enabled in the policy)'
  return `ssh -p ${options.bridgePort} <you>+<container>@${options.bridgeHost ?? '<docker host>'}`
}

function short (target: ResolvedResource): string {
  return (target.id ?? target.ref.ref).slice(0, 12)
}

function verb (action: string): string {
  return action === 'exec.start' ? 'start' : 'resize'
}
