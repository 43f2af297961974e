// `audit replay` shows what drew the user's screen and nothing that acts beyond it: no clipboard or title writes,
// no queries the auditor's terminal would answer into its own input, no mouse reporting, no device strings.
import { describe, expect, it } from 'vitest'
import { ReplayFilter, removedSummary } from '../../src/audit/replay-filter.js'

const ESC = '\x1b'
const filtered = (...pieces: string[]): { out: string, filter: ReplayFilter } => {
  const filter = new ReplayFilter()
  return { out: pieces.map((piece) => filter.write(piece)).join(''), filter }
}

describe('replay filter', () => {
  it('keeps text, colours, cursor movement, erasing, scroll regions, modes that draw and the alternate screen', () => {
    const screen = `plain ${ESC}[1;31mred${ESC}[0m ${ESC}[38;2;1;2;3mrgb${ESC}[m${ESC}[2J${ESC}[H${ESC}[10;20H${ESC}[K${ESC}[3A${ESC}[2;20r` +
      `${ESC}[?1049h${ESC}[?25l${ESC}[?25h${ESC}[?2004h${ESC}7${ESC}8${ESC}(0qqq${ESC}(B${ESC}M${ESC}[4 q\r\n\tbell\x07\b`
    const { out, filter } = filtered(screen)
    expect(out).toBe(screen)
    expect(filter.removed()).toEqual([])
  })

  it('removes clipboard writes (OSC 52) and titles, with BEL or ST, in 7-bit and 8-bit forms', () => {
    const { out, filter } = filtered(`a${ESC}]52;c;cm0gLXJmIH4K${ESC}\\b${ESC}]0;pwned\x07c\u009d2;title\u009cd${ESC}]52;p;eA==\x07e`)
    expect(out).toBe('abcde')
    expect(filter.removed()).toEqual([
      { kind: 'clipboard', count: 2, text: 'clipboard write (OSC 52)' },
      { kind: 'title', count: 2, text: 'window or icon title (OSC 0/1/2)' }
    ])
  })

  it('removes a sequence split across recording events', () => {
    const { out } = filtered('x', `${ESC}`, ']5', '2;c;Zm9v', '\x07', 'y', `${ESC}[`, '31', 'mz')
    expect(out).toBe(`xy${ESC}[31mz`)
  })

  it('removes queries the terminal would answer into the auditor\'s input: DA, DSR/CPR, window reports, DECRQM, DECID, ENQ', () => {
    const { out, filter } = filtered(`1${ESC}[c2${ESC}[>c3${ESC}[6n4${ESC}[5n5${ESC}[21t6${ESC}[14t7${ESC}[?1$p8${ESC}Z9\x05!`)
    expect(out).toBe('123456789!')
    expect(filter.removed()).toEqual([{ kind: 'query', count: 9, text: expect.any(String) }])
  })

  it('removes device control, APC, PM and SOS strings (DECRQSS, tmux passthrough…) and screen\'s title string', () => {
    const { out, filter } = filtered(`a${ESC}P$qm${ESC}\\b${ESC}Ptmux;${ESC}${ESC}]52;c;eA==\x07${ESC}\\c${ESC}_apc${ESC}\\d${ESC}^pm${ESC}\\e${ESC}Xsos${ESC}\\f${ESC}ktitle${ESC}\\g`)
    expect(out).toBe('abcdefg')
    expect(filter.removed().map((r) => r.kind).sort()).toEqual(['clipboard', 'string', 'title'])
  })

  it('removes mouse and focus reporting, and any mode list that includes one', () => {
    const { out, filter } = filtered(`${ESC}[?1000h${ESC}[?1006;1000h${ESC}[?1004h${ESC}[?25;1003hok`)
    expect(out).toBe('ok')
    expect(filter.removed()).toEqual([{ kind: 'mode', count: 4, text: expect.any(String) }])
  })

  it('drops other C0 controls, DEL and C1 controls, and an over-long sequence', () => {
    const { out } = filtered(`a\x00\x01\x1a\x7f\u0085b${ESC}[${'1;'.repeat(100)}mc`)
    expect(out).toBe('abc')
  })

  it('ends by resetting attributes, showing the cursor and leaving the alternate screen it entered', () => {
    const { filter } = filtered(`${ESC}[?1049h${ESC}[31m`)
    const restore = `\x0f${ESC}(B${ESC})B${ESC}[4l${ESC}[?1l${ESC}[?2004l${ESC}[?7h`
    expect(filter.finish()).toBe(`${ESC}[0m${ESC}[?25h${ESC}[?1049l${restore}`)
    expect(new ReplayFilter().finish()).toBe(`${ESC}[0m${ESC}[?25h${restore}`)
  })

  it('says what it removed, and how to see it all', () => {
    const { filter } = filtered(`${ESC}]52;c;eA==\x07`)
    expect(removedSummary(filter.removed())).toBe('removed from what was shown: 1 clipboard write (OSC 52); `--raw` plays the recording as it was')
    expect(removedSummary([])).toBeNull()
  })
})
