// `portcullis audit replay`: a recorded session played in this terminal at the speed it happened, through the
// replay filter unless --raw.
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { ReplayFilter, removedSummary } from '../audit/replay-filter.js'
import { readCastStream } from '../audit/cast-stream.js'
import type { SessionSummary } from '../audit/sessions.js'
import { visible } from '../audit/terminal-text.js'
import { formatElapsed } from '../core/duration.js'
import { PortcullisError } from '../errors.js'
import { formatTime } from './audit-format.js'
import { openAuditAccess, requireSessionId } from './audit-access.js'
import { ADMIN_HELP, ADMIN_OPTION, AUDIT_REMEMBERS, DATA_HELP } from './audit-options.js'
import { defineCommand } from './command.js'
import { playCast, type ReplayResult } from './replay-player.js'

export const auditReplayCommand = defineCommand({
  name: 'audit replay',
  summary: 'Play a recorded SSH session in this terminal at the speed it happened (what the user saw; keystrokes are not shown). Sequences that act beyond the screen (clipboard, title, terminal queries) are removed unless --raw.',
  usage: 'audit replay ID [--speed 1] [--idle-limit SECONDS] [--raw] [--admin-socket PATH | --url URL [--token-file FILE] | --data DIR]',
  remembers: AUDIT_REMEMBERS,
  options: { ...ADMIN_OPTION, data: { type: 'string' }, speed: { type: 'string', default: '1' }, 'idle-limit': { type: 'string' }, raw: { type: 'boolean', default: false } },
  help: {
    ...ADMIN_HELP,
    ...DATA_HELP,
    '--speed N': 'play N times as fast (default 1; 0.5 is half speed)',
    '--idle-limit SECONDS': 'cut every pause to at most this long (default: the recording\'s idle_time_limit, else none)',
    '--raw': 'play the recorded bytes as they are, including what writes your clipboard or title or makes your terminal answer (only for recordings you trust)'
  },
  async run (values, positionals) {
    const usage = (problem: string): PortcullisError => new PortcullisError('PORTCULLIS_USAGE', problem, 'audit replay')
    if (positionals.length !== 1) throw usage('give one session ID (`portcullis audit sessions` lists them)')
    const id = requireSessionId(positionals[0]!)
    const speed = positiveNumber(values.speed)
    if (speed === null) throw usage('--speed takes a number above 0')
    const idleLimit = values['idle-limit'] === undefined ? undefined : positiveNumber(values['idle-limit'])
    if (idleLimit === null) throw usage('--idle-limit takes a number of seconds above 0')

    const access = openAuditAccess(values)
    try {
      const session = await access.session(id)
      const cast = await access.cast(id)
      process.stderr.write(replayBanner(session, speed) + '\n')
      if (values.raw) process.stderr.write('portcullis: --raw: the recording\'s own bytes reach this terminal; a hostile one can set your clipboard or title, or make the terminal type into your shell.\n')
      // The user's programs wrote this: by default only what draws the screen reaches the auditor's terminal.
      const filter = values.raw ? null : new ReplayFilter()
      const played = await playCast(readCastStream(cast), filter === null ? writeOut : async (text) => { await writeOut(filter.write(text)) }, {
        speed,
        ...(idleLimit !== undefined ? { idleLimit } : {}),
        clock: { now: () => performance.now(), sleep: async (ms) => { await sleep(ms) } }
      })
      if (filter !== null) await writeOut(filter.finish())
      process.stderr.write('\n' + replaySummary(session, played) + '\n')
      const removed = filter === null ? null : removedSummary(filter.removed())
      if (removed !== null) process.stderr.write(`portcullis: ${removed}.\n`)
    } finally {
      await access.close()
    }
    return 0
  }
})

function positiveNumber (text: string): number | null {
  const value = Number(text)
  return text.trim() !== '' && Number.isFinite(value) && value > 0 ? value : null
}

async function writeOut (text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain')
}

/** One line, whatever the user's name, container or command hold. */
function replayBanner (s: SessionSummary, speed: number): string {
  const where = `${s.container ?? '?'}${s.project !== null ? ` (project ${s.project})` : ''}`
  const what = s.command === null ? 'a login shell' : `\`${s.command.join(' ')}\``
  return visible(`portcullis: replaying ${s.session}: ${s.user ?? 'unknown user'} ran ${what} in ${where}, ${formatTime(s.startedAt)}` +
    `${speed !== 1 ? `, at ${speed}x` : ''}. Ctrl-C stops.`)
}

function replaySummary (s: SessionSummary, played: ReplayResult): string {
  const ending = s.state === 'open'
    ? 'the session is still open; this is what was recorded so far'
    : s.state === 'interrupted' ? 'portcullis stopped before the session ended' : (s.endReason ?? `ended by ${s.endedBy ?? '?'}`)
  return visible(`portcullis: end of ${s.session}: ${formatElapsed(played.recordedSeconds * 1000)} recorded, played in ${formatElapsed(played.playedMs)}; ${ending}.`)
}
