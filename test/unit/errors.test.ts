import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import express from 'express'
import pino from 'pino'
import { AuditError } from '../../src/audit/errors.js'
import { ElevationError } from '../../src/elevation/errors.js'
import { AnsweredError, ERRORS, errorFromAnswer, HTTP_STATUS, PortcullisError } from '../../src/errors.js'
import { errorHandler } from '../../src/http-errors.js'
import { DENY_CODES } from '../../src/core/decision.js'

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : []
  })
}

// The environment variables portcullis reads: PORTCULLIS_ names too, but settings, not error codes.
const ENVIRONMENT = ['PORTCULLIS_ALLOCATOR', 'PORTCULLIS_FLEET_PASSWORD', 'PORTCULLIS_LOG_LEVEL', 'PORTCULLIS_TOKEN', 'PORTCULLIS_ADMIN_SOCKET', 'PORTCULLIS_URL', 'PORTCULLIS_TOKEN_FILE', 'PORTCULLIS_PROFILE']

describe('error codes', () => {
  const src = new URL('../../src', import.meta.url).pathname
  const text = sources(src).map((file) => readFileSync(file, 'utf8')).join('\n')
  const used = new Set([...text.matchAll(/'(PORTCULLIS_[A-Z_]+)'/g)].map((m) => m[1]!).filter((name) => !ENVIRONMENT.includes(name)))

  it('every environment variable on the list is read in src/ and is not an error code', () => {
    for (const name of ENVIRONMENT) {
      expect(text, name).toMatch(new RegExp(`env\\.${name}\\b|'${name}'`))
      expect(name in ERRORS, name).toBe(false)
    }
  })

  it('every code raised in src/ is declared in the registry', () => {
    const undeclared = [...used].filter((code) => !(code in ERRORS))
    expect(undeclared).toEqual([])
  })

  it('every declared code is used somewhere', () => {
    const unused = Object.keys(ERRORS).filter((code) => !used.has(code) && !readFileSync(join(src, 'errors.ts'), 'utf8').includes(`${code}: `) )
    expect(unused).toEqual([])
  })

  it('fills the message in order and keeps the code', () => {
    const err = new PortcullisError('PORTCULLIS_KEYS_MISSING', '/k/token.pub', '/k')
    expect(err.code).toBe('PORTCULLIS_KEYS_MISSING')
    expect(err.message).toBe('No token key at /k/token.pub. Run `portcullis keys init --keys /k` first.')
  })

  it('every deny code has a description', () => {
    for (const [code, text] of Object.entries(DENY_CODES)) expect(text, code).toMatch(/\w/)
  })
})

describe('one error model', () => {
  it('every error class of ours is a PortcullisError with a declared code and an HTTP status', () => {
    const cause = new Error('EIO')
    const errors = [
      new PortcullisError('PORTCULLIS_USAGE', 'x', 'serve'),
      new AuditError('PORTCULLIS_AUDIT_UNAVAILABLE', ['t', 'ENOSPC'], { cause }),
      new ElevationError('PORTCULLIS_ELEVATION_RATE_LIMITED', ['5', '60']),
      new AnsweredError('PORTCULLIS_ELEVATION_DUPLICATE', 'as the server wrote it', 409)
    ]
    for (const err of errors) {
      expect(err).toBeInstanceOf(PortcullisError)
      expect(err.code in ERRORS, err.code).toBe(true)
      expect(err.status).toBe(err instanceof AnsweredError ? 409 : HTTP_STATUS[err.code] ?? 500)
    }
    expect(errors[1]!.cause).toBe(cause)
    expect(errors[2]!.status).toBe(429)
    expect(errors[3]!.message).toBe('as the server wrote it')
  })

  it('every status in the registry is an HTTP error status of a declared code', () => {
    for (const [code, status] of Object.entries(HTTP_STATUS)) {
      expect(code in ERRORS, code).toBe(true)
      expect(status).toBeGreaterThanOrEqual(400)
      expect(status).toBeLessThan(600)
    }
  })

  it('an API answers a fault without a code as PORTCULLIS_INTERNAL (500), logged; a coded error with its own status', async () => {
    const lines: string[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(line) } })
    const app = express()
    app.get('/fault', () => { throw new TypeError('x is undefined') })
    app.get('/gone', () => { throw new PortcullisError('PORTCULLIS_SESSION_NOT_FOUND', 's-1') })
    app.get('/slow-down', () => {
      const err = new ElevationError('PORTCULLIS_ELEVATION_RATE_LIMITED', ['5', '60'])
      err.retryAfterSeconds = 60
      throw err
    })
    app.use(errorHandler(logger, 'test'))
    const server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      const fault = await fetch(`${base}/fault`)
      expect(fault.status).toBe(500)
      expect(await fault.json()).toEqual({ code: 'PORTCULLIS_INTERNAL', error: 'portcullis failed on this request (x is undefined); an operator must check its log.' })
      const gone = await fetch(`${base}/gone`)
      expect(gone.status).toBe(404)
      expect(await gone.json()).toMatchObject({ code: 'PORTCULLIS_SESSION_NOT_FOUND' })
      const slow = await fetch(`${base}/slow-down`)
      expect(slow.status).toBe(429)
      expect(slow.headers.get('retry-after')).toBe('60')
    } finally {
      server.close()
    }
    expect(lines.map((line) => JSON.parse(line) as { level: number, msg: string })).toEqual([
      expect.objectContaining({ level: 50, msg: 'test request failed' }),
      expect.objectContaining({ level: 40, msg: 'test request refused' }),
      expect.objectContaining({ level: 40, msg: 'test request refused' })
    ])
  })

  it('a client takes a server\'s answer as the server\'s own error, never parsing its text', () => {
    const answered = errorFromAnswer(404, JSON.stringify({ error: 'There is no session s-1 in the audit trail.', code: 'PORTCULLIS_SESSION_NOT_FOUND' }))
    expect(answered).toMatchObject({ code: 'PORTCULLIS_SESSION_NOT_FOUND', status: 404, message: 'There is no session s-1 in the audit trail.' })
    expect(errorFromAnswer(500, JSON.stringify({ error: 'x', code: 'NOT_OURS' }))).toMatchObject({ code: 'PORTCULLIS_ADMIN_REQUEST', message: 'The admin socket answered 500: x' })
    expect(errorFromAnswer(502, '<html>bad gateway</html>', 'PORTCULLIS_ELEVATION_API')).toMatchObject({ code: 'PORTCULLIS_ELEVATION_API', message: 'The elevation API answered 502: <html>bad gateway</html>' })
  })
})
