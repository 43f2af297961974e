// OpenSSH `authorized_keys` lines from the policy (`users.<name>.sshKeys`), parsed once and used by the SSH bridge
// to authenticate users. Parsing and the cryptography are ssh2's (`utils.parseKey`, `ParsedKey.verify`); this file
// decides which keys are acceptable and makes sure a login is proven by a signature, never by a key match alone.

import { timingSafeEqual } from 'node:crypto'
import ssh2 from 'ssh2'
import type { ParsedKey } from 'ssh2'
import { AuthorizedKeyError } from './authorized-key-error.js'
import { keyRestrictions, loginRefusal, type AuthorizedKeyOption, type KeyRefusal, type KeyRestrictions } from './key-options.js'

export { AuthorizedKeyError } from './authorized-key-error.js'
export type { KeyRefusal } from './key-options.js'

/** Key types a user may log in with. RSA keys must sign with rsa-sha2-256/512 (see `KeyRing.verify`). */
const SUPPORTED_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa'
] as const

type SupportedKeyType = typeof SUPPORTED_KEY_TYPES[number]

/** Types OpenSSH knows that we refuse on purpose, with what the user should do instead. */
const REFUSED_KEY_TYPES: Record<string, string> = {
  'ssh-dss': 'DSA keys are insecure and no longer accepted; make a new key with `ssh-keygen -t ed25519`',
  'sk-ssh-ed25519@openssh.com': 'security-key (FIDO) keys are not supported by the bridge; add an ed25519, ecdsa or rsa key',
  'sk-ecdsa-sha2-nistp256@openssh.com': 'security-key (FIDO) keys are not supported by the bridge; add an ed25519, ecdsa or rsa key'
}

/** RSA signature hashes we accept: the rsa-sha2-256/512 algorithms. Plain `ssh-rsa` (SHA-1) signatures are refused. */
const RSA_HASHES = new Set(['sha256', 'sha512'])

export interface AuthorizedKey {
  readonly type: SupportedKeyType
  /** The key blob in SSH wire format: what a client sends as `key.data`. */
  readonly publicSSH: Buffer
  readonly comment: string
  readonly options: readonly AuthorizedKeyOption[]
  /** What the options allow and refuse (sshd's meaning); a line with an option the bridge cannot honour is refused. */
  readonly restrictions: KeyRestrictions
  /** ssh2's parsed key, used to check signatures. */
  readonly parsed: ParsedKey
}

/** Parses one OpenSSH `authorized_keys` line: `[options] type base64 [comment]`. Throws `AuthorizedKeyError`. */
export function parseAuthorizedKey (line: string): AuthorizedKey {
  const text = line.trim()
  if (text === '' || text.startsWith('#')) {
    throw new AuthorizedKeyError('empty', 'The line is empty or a comment; put one public key per line, as in `~/.ssh/id_ed25519.pub`.')
  }
  refuseOtherFormats(text)

  let rest = text
  let options: AuthorizedKeyOption[] = []
  if (!startsWithKey(text)) {
    const { optionsText, after } = splitOptions(text)
    options = parseOptions(optionsText)
    rest = after
  }

  const [type = '', base64 = '', ...commentWords] = rest.split(/\s+/)
  if (base64 === '') {
    throw new AuthorizedKeyError('missing-key', `Expected "<type> <base64 key> [comment]" after the options but found "${clip(rest)}"; paste the whole line of the .pub file.`)
  }
  const refusal = refusalFor(type)
  if (refusal !== undefined) throw new AuthorizedKeyError('refused-type', `Key type ${type} is refused: ${refusal}.`)
  if (!isSupportedType(type)) {
    throw new AuthorizedKeyError('unknown-type', `Unknown key type "${clip(type)}"; use one of ${SUPPORTED_KEY_TYPES.join(', ')}.`)
  }

  const blob = decodeBase64(base64)
  // The blob names its own type; a mismatch (an ecdsa-sha2-nistp256 line holding a nistp384 key, say) is a damaged
  // or hand-edited line, and ssh2's parser does not check it.
  if (blob === null || blobType(blob) !== type) {
    throw new AuthorizedKeyError('bad-key-data', `The ${type} key data is not valid base64 of a ${type} key; copy the line again from the .pub file.`)
  }
  const parsed = ssh2.utils.parseKey(`${type} ${base64}`)
  if (parsed instanceof Error) {
    throw new AuthorizedKeyError('bad-key-data', `The ${type} key cannot be read (${parsed.message}); copy the line again from the .pub file.`)
  }
  const publicSSH = parsed.getPublicSSH()
  // ssh2 rebuilds the blob from the fields it read, so a difference means trailing bytes or a truncated field.
  if (!publicSSH.equals(blob)) {
    throw new AuthorizedKeyError('bad-key-data', `The ${type} key data has extra or missing bytes; copy the line again from the .pub file.`)
  }

  // Options are read last so that a damaged key is reported as such, whatever its options say.
  const restrictions = keyRestrictions(options)
  return { type, publicSSH, comment: commentWords.join(' '), options, restrictions, parsed }
}

/**
 * Things pasted by mistake, caught before anything is echoed back: a private key (never show any of it, and say it
 * must be replaced), a PEM or RFC 4716 public key (convertible), or several lines in one entry.
 */
function refuseOtherFormats (text: string): void {
  // The armour line, PuTTY's header, or the base64 of `openssh-key-v1` (a private key body pasted without armour).
  if (/PRIVATE KEY-----|^PuTTY-User-Key-File-|b3BlbnNzaC1rZXktdjE/m.test(text)) {
    throw new AuthorizedKeyError('private-key', 'This is a PRIVATE key: never put it in the policy. Consider it exposed: make a new key pair ' +
      '(`ssh-keygen -t ed25519`), and add the one line of its .pub file instead.')
  }
  if (/^-----BEGIN [A-Z ]*PUBLIC KEY-----|^---- BEGIN SSH2 PUBLIC KEY ----/m.test(text)) {
    throw new AuthorizedKeyError('bad-key-data', 'This is a PEM or RFC 4716 public key, not an authorized_keys line; convert it with ' +
      '`ssh-keygen -i -m PKCS8 -f KEY` (or `-m RFC4716`) and add the one line it prints.')
  }
  if (/[\r\n]/.test(text)) {
    throw new AuthorizedKeyError('bad-key-data', 'The entry holds more than one line; put each key in its own entry, one line each.')
  }
}

export interface InvalidAuthorizedKey {
  readonly user: string
  /** Position in the user's `sshKeys` list, from 0. */
  readonly index: number
  readonly message: string
}

/** What the bridge receives from ssh2 for method 'publickey' (the fields of its `PublicKeyAuthContext`). */
export interface PublicKeyAttempt {
  readonly key: { readonly algo: string, readonly data: Buffer }
  readonly signature?: Buffer
  readonly blob?: Buffer
  readonly hashAlgo?: string
}

export type LoginOutcome =
  | { readonly outcome: 'unproven' }
  | { readonly outcome: 'refused', readonly key: AuthorizedKey, readonly refusal: KeyRefusal }
  | { readonly outcome: 'accepted', readonly key: AuthorizedKey }

export type SshKeysByUser = Readonly<Record<string, { readonly sshKeys?: readonly string[] } | undefined>>

/** Every user's usable keys. Bad lines are skipped and listed in `invalid`, so one typo locks out only that key. */
export class KeyRing {
  readonly invalid: readonly InvalidAuthorizedKey[]
  readonly #keys: ReadonlyMap<string, readonly AuthorizedKey[]>

  constructor (users: SshKeysByUser) {
    const keys = new Map<string, AuthorizedKey[]>()
    const invalid: InvalidAuthorizedKey[] = []
    for (const [user, doc] of Object.entries(users)) {
      const parsed: AuthorizedKey[] = []
      for (const [index, line] of (doc?.sshKeys ?? []).entries()) {
        try {
          parsed.push(parseAuthorizedKey(line))
        } catch (err) {
          if (!(err instanceof AuthorizedKeyError)) throw err
          invalid.push({ user, index, message: err.message })
        }
      }
      keys.set(user, parsed)
    }
    this.#keys = keys
    this.invalid = invalid
  }

  keysOf (user: string): readonly AuthorizedKey[] {
    return this.#keys.get(user) ?? []
  }

  /** The user's key with this type and blob, or null. Answers ssh2's "would you accept this key?" query. */
  match (user: string, algo: string, data: Buffer): AuthorizedKey | null {
    let found: AuthorizedKey | null = null
    // Look at every key, without stopping early, so timing says little about which key matched.
    for (const key of this.keysOf(user)) {
      if (sameBytes(key.publicSSH, data) && key.type === algo && found === null) found = key
    }
    return found
  }

  /** True only if the attempt carries a valid signature by one of the user's keys over `blob`. */
  verify (user: string, attempt: PublicKeyAttempt): boolean {
    return this.#proven(user, attempt) !== null
  }

  /**
   * A signed login attempt from `address` at `nowMs`: refused unless the signature proves one of the user's keys;
   * a proven key whose options refuse this login (sshd's `from=` and `expiry-time=`) comes back with the reason,
   * so the record can say that the key's holder, not just someone who knows the public key, tried.
   */
  authenticate (user: string, attempt: PublicKeyAttempt, address: string, nowMs: number): LoginOutcome {
    const proven = this.#proven(user, attempt)
    if (proven === null) return { outcome: 'unproven' }
    // Like sshd reading authorized_keys top to bottom: the first line with this key whose options allow the login.
    let first: LoginOutcome | null = null
    for (const key of this.keysOf(user)) {
      if (key.type !== proven.type || !sameBytes(key.publicSSH, proven.publicSSH)) continue
      const refusal = loginRefusal(key.restrictions, address, nowMs)
      if (refusal === null) return { outcome: 'accepted', key }
      first ??= { outcome: 'refused', key, refusal }
    }
    return first ?? { outcome: 'unproven' }
  }

  #proven (user: string, attempt: PublicKeyAttempt): AuthorizedKey | null {
    const { key, signature, blob, hashAlgo } = attempt
    if (signature === undefined || blob === undefined) return null
    const found = this.match(user, key.algo, key.data)
    if (found === null) return null

    let hash: string | undefined
    if (found.type === 'ssh-rsa') {
      if (hashAlgo === undefined || !RSA_HASHES.has(hashAlgo)) return null
      hash = hashAlgo
    }
    // Other types have one hash fixed by the key type; ssh2 picks it when `hash` is undefined.
    // ParsedKey.verify returns an Error for unusable input: that is a failed login, not a crash.
    return found.parsed.verify(blob, signature, hash) === true ? found : null
  }
}

function isSupportedType (type: string): type is SupportedKeyType {
  return (SUPPORTED_KEY_TYPES as readonly string[]).includes(type)
}

function refusalFor (type: string): string | undefined {
  if (type.endsWith('-cert-v01@openssh.com')) {
    return 'OpenSSH certificates are not supported by the bridge; add the plain public key instead'
  }
  return REFUSED_KEY_TYPES[type]
}

/** Like OpenSSH: a line starts with the key when its first word is a key type, or when the second word decodes to a blob of that type. */
function startsWithKey (text: string): boolean {
  const [first = '', second = ''] = text.split(/\s+/)
  if (isSupportedType(first) || refusalFor(first) !== undefined) return true
  const blob = decodeBase64(second)
  if (blob === null) return false
  // A type word of a key family followed by key data is a key of a type we do not know, not an option list.
  return blobType(blob) === first || /^(ssh|ecdsa|sk)-[A-Za-z0-9@._-]+$/.test(first)
}

/** The options end at the first space or tab outside double quotes. */
function splitOptions (text: string): { optionsText: string, after: string } {
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === '\\' && quoted) i++
    else if (c === '"') quoted = !quoted
    else if (!quoted && (c === ' ' || c === '\t')) return { optionsText: text.slice(0, i), after: text.slice(i).trim() }
  }
  if (quoted) throw new AuthorizedKeyError('bad-options', `The options "${clip(text)}" have an unclosed double quote.`)
  throw new AuthorizedKeyError('missing-key', `No key found in "${clip(text)}"; paste the whole line of the .pub file.`)
}

function parseOptions (optionsText: string): AuthorizedKeyOption[] {
  const options: AuthorizedKeyOption[] = []
  let i = 0
  while (i < optionsText.length) {
    const name = /^[A-Za-z0-9-]+/.exec(optionsText.slice(i))?.[0]
    if (name === undefined) {
      throw new AuthorizedKeyError('bad-options', `Cannot read the options "${clip(optionsText)}" at "${clip(optionsText.slice(i))}"; options look like no-pty,from="10.0.0.0/8".`)
    }
    i += name.length
    let value: string | undefined
    if (optionsText[i] === '=') {
      if (optionsText[i + 1] !== '"') {
        throw new AuthorizedKeyError('bad-options', `The value of option ${name} must be in double quotes, e.g. ${name}="...".`)
      }
      value = ''
      i += 2
      while (i < optionsText.length && optionsText[i] !== '"') {
        // Inside quotes OpenSSH only unescapes \" ; any other backslash stays as written.
        if (optionsText[i] === '\\' && optionsText[i + 1] === '"') i++
        value += optionsText[i]
        i++
      }
      if (i >= optionsText.length) throw new AuthorizedKeyError('bad-options', `The value of option ${name} has no closing double quote.`)
      i++
    }
    options.push(value === undefined ? { name: name.toLowerCase() } : { name: name.toLowerCase(), value })
    if (i === optionsText.length) break
    if (optionsText[i] !== ',') {
      throw new AuthorizedKeyError('bad-options', `Options must be separated by commas without spaces; found "${clip(optionsText.slice(i))}" after ${name}.`)
    }
    i++
    if (i === optionsText.length) throw new AuthorizedKeyError('bad-options', `The options "${clip(optionsText)}" end with a comma.`)
  }
  return options
}

function decodeBase64 (text: string): Buffer | null {
  // Buffer.from(…, 'base64') silently skips junk, so check the alphabet and padding first.
  if (text === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return null
  return Buffer.from(text, 'base64')
}

/** The type name an SSH wire-format key blob starts with (a uint32 length, then the name). */
function blobType (blob: Buffer): string | null {
  if (blob.length < 4) return null
  const length = blob.readUInt32BE(0)
  if (length === 0 || length > 64 || blob.length < 4 + length) return null
  return blob.subarray(4, 4 + length).toString('latin1')
}

function sameBytes (a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

function clip (text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
