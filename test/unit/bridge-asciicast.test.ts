import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CastFormatError, CastRecorder, parseCast, type CastRecorderOptions } from '../../src/audit/asciicast.js'

const startedAt = new Date('2026-11-23T15:00:00.750Z')

function recorder (overrides: Partial<CastRecorderOptions> = {}): CastRecorder {
  return new CastRecorder({
    width: 80,
    height: 24,
    startedAt,
    user: 'alice',
    container: 'web-1',
    project: 'shop',
    sessionId: 's-1',
    ...overrides
  })
}

/** The whole recording as a `.cast` file. */
function castText (rec: CastRecorder, lines: string[]): string {
  return [rec.header(), ...lines].join('\n') + '\n'
}

const events = (lines: string[]): unknown[] => lines.map((line) => JSON.parse(line))

function which (command: string): boolean {
  try {
    execFileSync('which', [command], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

describe('CastRecorder header', () => {
  it('has the asciicast v2 fields and the session metadata', () => {
    const rec = recorder({ command: 'ls /', title: 'alice on web-1', env: { TERM: 'xterm-256color' } })
    expect(JSON.parse(rec.header())).toEqual({
      version: 2,
      width: 80,
      height: 24,
      timestamp: Math.floor(startedAt.getTime() / 1000),
      command: 'ls /',
      title: 'alice on web-1',
      env: { TERM: 'xterm-256color' },
      portcullis: { user: 'alice', container: 'web-1', project: 'shop', sessionId: 's-1' }
    })
    expect(rec.header()).not.toContain('\n')
  })

  it('leaves out optional fields that were not given', () => {
    const header = JSON.parse(recorder().header()) as Record<string, unknown>
    expect(Object.keys(header)).toEqual(['version', 'width', 'height', 'timestamp', 'portcullis'])
  })

  it('refuses a terminal size that is not whole positive numbers', () => {
    expect(() => recorder({ width: 0 })).toThrow(RangeError)
    expect(() => recorder({ height: 2.5 })).toThrow(/0x|2.5/)
  })
})

describe('CastRecorder events', () => {
  it('records output, input and resize with times in seconds, 6 decimals', () => {
    const rec = recorder()
    rec.output(Buffer.from('$ '), 1.5)
    rec.input(Buffer.from('ls\r'), 1000)
    rec.resize(120, 40, 2000.0004)
    rec.output(Buffer.from('\u001b[1mbin\u001b[0m\r\n'), 62_345.678901)
    const lines = rec.drain()
    expect(lines).toEqual([
      '[0.001500, "o", "$ "]',
      '[1.000000, "i", "ls\\r"]',
      '[2.000000, "r", "120x40"]',
      '[62.345679, "o", "\\u001b[1mbin\\u001b[0m\\r\\n"]'
    ])
    expect(rec.bytesOut).toBe(2 + 13)
    expect(rec.bytesIn).toBe(3)
    expect(rec.events).toBe(4)
  })

  it('uses its own monotonic clock when no time is given', () => {
    const rec = recorder()
    rec.output(Buffer.from('a'))
    rec.output(Buffer.from('b'))
    const [first, second] = events(rec.drain()) as Array<[number, string, string]>
    expect(first![0]).toBeGreaterThanOrEqual(0)
    expect(second![0]).toBeGreaterThanOrEqual(first![0])
    expect(first![0]).toBeLessThan(5)
  })

  it('never lets time go backwards', () => {
    const rec = recorder()
    rec.output(Buffer.from('a'), 500)
    rec.input(Buffer.from('b'), 200)
    rec.output(Buffer.from('c'), 900)
    expect((events(rec.drain()) as Array<[number]>).map((e) => e[0])).toEqual([0.5, 0.5, 0.9])
  })

  it('records nothing for an empty chunk', () => {
    const rec = recorder()
    rec.output(Buffer.alloc(0), 1)
    rec.input(Buffer.alloc(0), 1)
    expect(rec.drain()).toEqual([])
    expect(rec.events).toBe(0)
  })

  it('refuses a bad resize', () => {
    expect(() => recorder().resize(0, 24)).toThrow(RangeError)
  })

  it('hands out each line once, in batches', () => {
    const rec = recorder()
    rec.output(Buffer.from('one'), 1)
    rec.output(Buffer.from('two'), 2)
    expect(rec.drain()).toHaveLength(2)
    expect(rec.drain()).toEqual([])
    rec.input(Buffer.from('three'), 3)
    expect(events(rec.drain())).toEqual([[0.003, 'i', 'three']])
    expect(rec.events).toBe(3)
  })
})

describe('CastRecorder UTF-8 boundaries', () => {
  const characters = { emoji: '😀', cjk: '語' }
  for (const [name, char] of Object.entries(characters)) {
    const bytes = Buffer.from(char)
    it(`keeps a ${bytes.length}-byte ${name} whole when split at any offset`, () => {
      for (let cut = 1; cut < bytes.length; cut++) {
        for (const stream of ['output', 'input'] as const) {
          const rec = recorder()
          rec[stream](bytes.subarray(0, cut), 10)
          rec[stream](bytes.subarray(cut), 20)
          const code = stream === 'output' ? 'o' : 'i'
          expect(events(rec.drain()), `cut at ${cut}`).toEqual([[0.02, code, char]])
        }
      }
    })
  }

  it('keeps a character whole when split into single bytes', () => {
    const rec = recorder()
    const bytes = Buffer.from('x😀y')
    for (let i = 0; i < bytes.length; i++) rec.output(bytes.subarray(i, i + 1), i)
    expect(events(rec.drain())).toEqual([[0, 'o', 'x'], [0.004, 'o', '😀'], [0.005, 'o', 'y']])
    expect(rec.bytesOut).toBe(bytes.length)
  })

  it('decodes each stream apart, so split characters of output and input never mix', () => {
    const rec = recorder()
    const out = Buffer.from('語')
    const typed = Buffer.from('é')
    rec.output(out.subarray(0, 1), 1)
    rec.input(typed.subarray(0, 1), 2)
    rec.errorOutput(Buffer.from('😀').subarray(0, 2), 3)
    rec.output(out.subarray(1), 4)
    rec.input(typed.subarray(1), 5)
    rec.errorOutput(Buffer.from('😀').subarray(2), 6)
    expect(events(rec.drain())).toEqual([[0.004, 'o', '語'], [0.005, 'i', 'é'], [0.006, 'o', '😀']])
  })

  it('turns invalid bytes into U+FFFD', () => {
    const rec = recorder()
    rec.output(Buffer.from([0x61, 0xff, 0x62, 0xc3, 0x28]), 1)
    expect(events(rec.drain())).toEqual([[0.001, 'o', 'a\uFFFDb\uFFFD(']])
  })

  it('flushes an incomplete character as U+FFFD when finished, then refuses more', () => {
    const rec = recorder()
    rec.output(Buffer.from('ok'), 1)
    rec.output(Buffer.from('😀').subarray(0, 3), 2)
    rec.input(Buffer.from('語').subarray(0, 1), 3)
    rec.finish(4)
    expect(events(rec.drain())).toEqual([[0.001, 'o', 'ok'], [0.004, 'o', '\uFFFD'], [0.004, 'i', '\uFFFD']])
    expect(() => rec.output(Buffer.from('late'))).toThrow(/finished/)
    expect(() => rec.finish()).not.toThrow()
  })
})

describe('parseCast', () => {
  it('reads back what the recorder wrote', () => {
    const rec = recorder({ command: '/bin/sh', env: { TERM: 'xterm', LANG: 'C.UTF-8' } })
    rec.output(Buffer.from('héllo 😀 "quoted" \\ \u0000\u2028'), 12.25)
    rec.input(Buffer.from('\u0003'), 13)
    rec.resize(100, 30, 14)
    const lines = rec.drain()
    rec.finish(15)
    const { header, events: parsed } = parseCast(castText(rec, [...lines, ...rec.drain()]))
    expect(header).toEqual(JSON.parse(rec.header()))
    expect(header.portcullis?.user).toBe('alice')
    expect(parsed).toEqual([
      { time: 0.01225, code: 'o', data: 'héllo 😀 "quoted" \\ \u0000\u2028' },
      { time: 0.013, code: 'i', data: '\u0003' },
      { time: 0.014, code: 'r', data: '100x30' }
    ])
  })

  it('accepts a file written by asciinema, with markers, CRLF and null env values', () => {
    const text = [
      '{"version": 2, "width": 80, "height": 24, "timestamp": 1504467315, "env": {"SHELL": null, "TERM": "xterm"}, "theme": {"fg": "#d0d0d0"}}',
      '[0.248848, "o", "Hello"]',
      '[1.5, "m", ""]',
      '[4.05, "r", "80x24"]'
    ].join('\r\n')
    const { header, events: parsed } = parseCast(text)
    expect(header.theme).toEqual({ fg: '#d0d0d0' })
    expect(parsed.map((e) => e.code)).toEqual(['o', 'm', 'r'])
  })

  const header = '{"version": 2, "width": 80, "height": 24}'
  const bad: Array<[string, string, number, RegExp]> = [
    ['empty text', '', 1, /header line is missing/],
    ['not JSON', `${header}\n[0.1, "o", "a"]\n[0.2, "o", `, 3, /not JSON/],
    ['wrong version', '{"version": 1, "width": 80, "height": 24}', 1, /version is 1, expected 2/],
    ['missing height', '{"version": 2, "width": 80}', 1, /height/],
    ['bad env', '{"version": 2, "width": 80, "height": 24, "env": {"A": 1}}', 1, /env/],
    ['bad metadata', '{"version": 2, "width": 80, "height": 24, "portcullis": {"user": "a"}}', 1, /portcullis metadata/],
    ['event not an array', `${header}\n{"t": 1}`, 2, /\[time, code, data\]/],
    ['event of two items', `${header}\n[1, "o"]`, 2, /\[time, code, data\]/],
    ['negative time', `${header}\n[-1, "o", "a"]`, 2, /event time/],
    ['unknown code', `${header}\n[1, "x", "a"]`, 2, /"x" is not one of/],
    ['data not a string', `${header}\n[1, "o", 5]`, 2, /data must be a string/],
    ['bad resize', `${header}\n[1, "r", "80 by 24"]`, 2, /COLSxROWS/],
    ['time going back', `${header}\n[2, "o", "a"]\n\n[1, "o", "b"]`, 4, /earlier than the event before/]
  ]
  for (const [name, text, line, message] of bad) {
    it(`says which line is bad: ${name}`, () => {
      let caught: unknown
      try {
        parseCast(text)
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(CastFormatError)
      expect((caught as CastFormatError).line).toBe(line)
      expect((caught as CastFormatError).message).toMatch(new RegExp(`^Line ${line} `))
      expect((caught as CastFormatError).message).toMatch(message)
    })
  }
})

describe('asciinema compatibility', () => {
  it.skipIf(!which('asciinema'))('asciinema cat accepts a recording', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-cast-'))
    try {
      const rec = recorder({ command: '/bin/sh' })
      rec.output(Buffer.from('hello 語 😀\r\n'), 10)
      rec.resize(100, 30, 20)
      rec.input(Buffer.from('exit\r'), 30)
      rec.finish(40)
      const file = join(dir, 'session.cast')
      writeFileSync(file, castText(rec, rec.drain()))
      // asciinema opens /dev/tty, so give it a terminal: util-linux `script` runs it under a pty.
      const printed = execFileSync('script', ['-q', '-e', '-c', `asciinema cat ${file}`, '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      expect(printed).toContain('hello 語 😀')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
