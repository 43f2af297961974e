// What the options before an authorized_keys key mean, as sshd(8) defines them (AUTHORIZED_KEYS FILE FORMAT and
// OpenSSH's auth-options.c), and the login checks they add. An option the bridge does not carry out is an error
// when the policy is loaded: a restriction written down but not enforced is worse than none.

import { addressAllowed, clientAddress, parseAddressPatterns, type AddressPatternList } from './address-patterns.js'
import { AuthorizedKeyError } from './authorized-key-error.js'
import { expired, parseExpiryTime } from './expiry-time.js'

/** One option before the key, e.g. `no-pty` or `from="10.0.0.0/8"` (value unquoted). Names are lower-cased, as OpenSSH compares them. */
export interface AuthorizedKeyOption {
  readonly name: string
  readonly value?: string
}

/** What a key may do, from its options. Forwarding is absent: the bridge refuses every kind for every key. */
export interface KeyRestrictions {
  /** `from=`: the client addresses the key may log in from; null: any. */
  readonly from: AddressPatternList | null
  /** `command=`: runs instead of whatever the client asks for; null: the client's command or shell. */
  readonly command: string | null
  /** False after `no-pty` or `restrict` (unless a later `pty`): pty requests are refused. */
  readonly pty: boolean
  /** `expiry-time=` as sshd reads it (ms since the epoch; the earliest when given twice); null: never. */
  readonly expiresAt: number | null
  /** The expiry as written, for messages and records. */
  readonly expiryText: string | null
}

/** Flags the bridge honours because it never offers what they switch off. */
const ALWAYS_OFF = new Set(['no-port-forwarding', 'no-agent-forwarding', 'no-x11-forwarding', 'no-user-rc'])

/** Options OpenSSH knows that the bridge refuses, with what to do instead. */
const NOT_SUPPORTED: Record<string, string> = {
  'port-forwarding': 'the bridge never forwards ports; remove it',
  'agent-forwarding': 'the bridge never forwards agents; remove it',
  'x11-forwarding': 'the bridge never forwards X11; remove it',
  'user-rc': 'the bridge runs no ~/.ssh/rc; remove it',
  permitopen: 'the bridge never forwards ports, so there is nothing to permit; remove it',
  permitlisten: 'the bridge never forwards ports, so there is nothing to permit; remove it',
  environment: 'the bridge sets no variables from keys; use bridge.env to let clients send the ones they need',
  tunnel: 'the bridge offers no tun devices; remove it',
  principals: 'certificates are not supported by the bridge; remove it and list the plain public key',
  'cert-authority': 'certificates are not supported by the bridge; list each user\'s plain public key instead',
  'no-touch-required': 'security-key (FIDO) keys are not supported by the bridge; remove it',
  'touch-required': 'security-key (FIDO) keys are not supported by the bridge; remove it',
  'verify-required': 'security-key (FIDO) keys are not supported by the bridge; remove it',
  'no-verify-required': 'security-key (FIDO) keys are not supported by the bridge; remove it'
}

const WITH_VALUE = new Set(['from', 'command', 'expiry-time'])
const FLAGS = new Set(['restrict', 'pty', 'no-pty', ...ALWAYS_OFF])

/** Reads the options in order, as sshd does (`restrict,pty` allows a pty; `pty,restrict` does not). Throws `AuthorizedKeyError`. */
export function keyRestrictions (options: readonly AuthorizedKeyOption[]): KeyRestrictions {
  let from: AddressPatternList | null = null
  let command: string | null = null
  let pty = true
  let expiresAt: number | null = null
  let expiryText: string | null = null

  for (const { name, value } of options) {
    const refusal = NOT_SUPPORTED[name]
    if (refusal !== undefined) throw optionError(`The option ${name} is not supported: ${refusal}.`)
    if (!WITH_VALUE.has(name) && !FLAGS.has(name)) {
      throw optionError(`Unknown option "${name}"; the bridge understands from=, command=, expiry-time=, restrict, pty, no-pty, ` +
        'no-port-forwarding, no-agent-forwarding, no-X11-forwarding and no-user-rc.')
    }
    if (WITH_VALUE.has(name) && value === undefined) throw optionError(`The option ${name} needs a value, e.g. ${name}="...".`, 'bad-options')
    if (FLAGS.has(name) && value !== undefined) throw optionError(`The option ${name} takes no value; write it as ${name}.`, 'bad-options')

    switch (name) {
      case 'from':
        if (from !== null) throw optionError('The option from= is given twice; sshd refuses that. Put every address in one list.', 'bad-options')
        from = parseWith(() => parseAddressPatterns(value!))
        break
      case 'command':
        if (command !== null) throw optionError('The option command= is given twice; sshd refuses that. Keep one.', 'bad-options')
        command = value!
        break
      case 'expiry-time': {
        const at = parseWith(() => parseExpiryTime(value!))
        if (expiresAt === null || at < expiresAt) {
          expiresAt = at
          expiryText = value!
        }
        break
      }
      case 'restrict':
      case 'no-pty':
        pty = false
        break
      case 'pty':
        pty = true
        break
      // The no-*-forwarding and no-user-rc flags: nothing to switch off.
    }
  }
  return { from, command, pty, expiresAt, expiryText }
}

/** Why a proven key may not log in here or now, naming the option, or null when it may. */
export interface KeyRefusal {
  readonly option: 'expiry-time' | 'from'
  /** The option as written, e.g. `from="10.9.9.9"`. */
  readonly value: string
  readonly detail: string
}

/** The login checks of sshd's auth_authorise_keyopts, in its order: the expiry, then the client address. */
export function loginRefusal (restrictions: KeyRestrictions, address: string, nowMs: number): KeyRefusal | null {
  if (restrictions.expiresAt !== null && expired(restrictions.expiresAt, nowMs)) {
    return {
      option: 'expiry-time',
      value: `expiry-time="${restrictions.expiryText ?? ''}"`,
      detail: `the key expired at ${new Date(restrictions.expiresAt).toISOString()}`
    }
  }
  if (restrictions.from !== null && !addressAllowed(restrictions.from, address)) {
    return {
      option: 'from',
      value: `from="${restrictions.from.text}"`,
      detail: `the key may not log in from ${clientAddress(address)}`
    }
  }
  return null
}

function parseWith<T> (read: () => T): T {
  try {
    return read()
  } catch (err) {
    throw optionError(`${(err as Error).message}.`, 'bad-options')
  }
}

function optionError (message: string, problem: 'unsupported-option' | 'bad-options' = 'unsupported-option'): AuthorizedKeyError {
  return new AuthorizedKeyError(problem, message)
}
