import { describe, expect, it } from 'vitest'
import { formatContainerList, Picker, type PickerAction, type PickerEntry } from '../../src/bridge/picker.js'

const UP = '\x1b[A'
const DOWN = '\x1b[B'
const ESC = '\x1b'

function entry (project: string, name: string, overrides: Partial<PickerEntry> = {}): PickerEntry {
  return { project, name, id: `${name}-id`, image: 'busybox:portcullis', status: 'Up 5 minutes', ...overrides }
}

/** Given out of order on purpose: the picker sorts projects, then names (naturally: web-2 before web-10). */
const shopAndPay = [entry('shop', 'web-10'), entry('shop', 'web-2'), entry('pay', 'pay-1'), entry('shop', 'db-1')]

function picker (entries: PickerEntry[] = shopAndPay, size: { width?: number, height?: number } = {}): Picker {
  return new Picker(entries, { user: 'alice', width: size.width ?? 80, height: size.height ?? 24 })
}

function press (p: Picker, ...keys: string[]): PickerAction {
  let last: PickerAction = { type: 'none' }
  for (const key of keys) last = p.key(Buffer.from(key))
  return last
}

/** The screen as text: ANSI sequences removed, one string per line. */
function screen (p: Picker): string[] {
  return p.render().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split('\r\n')
}

function selectedLine (p: Picker): string | undefined {
  const match = /\x1b\[7m(.*?)\x1b\[0m/.exec(p.render())
  return match?.[1]
}

function manyEntries (count: number, project = 'big'): PickerEntry[] {
  return Array.from({ length: count }, (_, i) => entry(project, `c-${i + 1}`))
}

describe('Picker.render', () => {
  it('clears the screen, homes the cursor and draws the numbered list grouped by project', () => {
    const p = picker()
    const text = p.render()
    expect(text.startsWith('\x1b[2J\x1b[H')).toBe(true)
    expect(screen(p)).toEqual([
      'portcullis — containers alice may enter',
      '',
      'pay',
      '  1) pay-1    busybox:portcullis   Up 5 minutes',
      '',
      'shop',
      '  2) db-1     busybox:portcullis   Up 5 minutes',
      '  3) web-2    busybox:portcullis   Up 5 minutes',
      '  4) web-10   busybox:portcullis   Up 5 minutes',
      '',
      '↑/↓ or a number, Enter to open, q to quit'
    ])
    expect(p.entries.map((e) => e.name)).toEqual(['pay-1', 'db-1', 'web-2', 'web-10'])
  })

  it('ends lines with \\r\\n only (the pty is raw) and never scrolls the screen with a trailing newline', () => {
    const text = picker().render()
    expect(text.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/)
    expect(text.endsWith('\n')).toBe(false)
  })

  it('highlights the selected row in reverse video, padded to the widest row', () => {
    const p = picker([entry('shop', 'a'), entry('shop', 'longer-name')])
    expect(selectedLine(p)).toBe('  1) a             busybox:portcullis   Up 5 minutes')
    press(p, DOWN)
    expect(selectedLine(p)).toBe('  2) longer-name   busybox:portcullis   Up 5 minutes')
    expect(p.render().match(/\x1b\[7m/g)).toHaveLength(1)
  })

  it('right-aligns numbers when there are ten or more rows', () => {
    const lines = screen(picker(manyEntries(10), { height: 40 }))
    expect(lines).toContain('   1) c-1    busybox:portcullis   Up 5 minutes')
    expect(lines).toContain('  10) c-10   busybox:portcullis   Up 5 minutes')
  })

  it('replaces control characters so container data cannot drive the terminal', () => {
    const p = picker([entry('shop', 'web-1', { status: 'Up\x1b]0;pwned\x07 1s', image: 'evil\x9bimage' })])
    const row = screen(p)[3]
    expect(row).toBe('  1) web-1   evil?image   Up?]0;pwned? 1s')
    expect(p.render()).not.toContain('\x07')
  })
})

describe('Picker.key: moving the selection', () => {
  it.each([
    ['CSI arrows', '\x1b[B', '\x1b[A'],
    ['SS3 arrows', '\x1bOB', '\x1bOA'],
    ['j/k', 'j', 'k'],
    ['Ctrl-N/Ctrl-P', '\x0e', '\x10'],
    ['arrows with a modifier', '\x1b[1;5B', '\x1b[1;5A']
  ])('moves down and up with %s', (_name, down, up) => {
    const p = picker()
    expect(press(p, down)).toEqual({ type: 'redraw' })
    expect(p.selected?.name).toBe('db-1')
    press(p, down)
    expect(p.selected?.name).toBe('web-2')
    expect(press(p, up)).toEqual({ type: 'redraw' })
    expect(p.selected?.name).toBe('db-1')
  })

  it('stops at the ends without redrawing', () => {
    const p = picker()
    expect(press(p, UP)).toEqual({ type: 'none' })
    expect(p.selected?.name).toBe('pay-1')
    press(p, DOWN, DOWN, DOWN)
    expect(p.selected?.name).toBe('web-10')
    expect(press(p, DOWN)).toEqual({ type: 'none' })
  })

  it.each([
    ['ESC [ H / ESC [ F', '\x1b[H', '\x1b[F'],
    ['ESC O H / ESC O F', '\x1bOH', '\x1bOF'],
    ['ESC [ 1 ~ / ESC [ 4 ~', '\x1b[1~', '\x1b[4~'],
    ['ESC [ 7 ~ / ESC [ 8 ~', '\x1b[7~', '\x1b[8~'],
    ['g / G', 'g', 'G']
  ])('jumps to the first and last row with %s', (_name, home, end) => {
    const p = picker()
    press(p, end)
    expect(p.selected?.name).toBe('web-10')
    press(p, home)
    expect(p.selected?.name).toBe('pay-1')
  })

  it('pages with PageUp/PageDown by the visible height', () => {
    // Height 10: 6 body lines, so a page is 5 rows.
    const p = picker(manyEntries(30), { height: 10 })
    press(p, '\x1b[6~')
    expect(p.selected?.name).toBe('c-6')
    press(p, '\x1b[6~', '\x1b[6~', '\x1b[6~', '\x1b[6~', '\x1b[6~', '\x1b[6~')
    expect(p.selected?.name).toBe('c-30')
    press(p, '\x1b[5~')
    expect(p.selected?.name).toBe('c-25')
  })

  it('ignores keys it does not know, and unknown escape sequences, without redrawing', () => {
    const p = picker()
    expect(press(p, 'x')).toEqual({ type: 'none' })
    expect(press(p, '\x1b[C')).toEqual({ type: 'none' })
    expect(press(p, '\x1b[200~')).toEqual({ type: 'none' })
    expect(press(p, 'é')).toEqual({ type: 'none' })
    expect(p.selected?.name).toBe('pay-1')
  })

  it('redraws on Ctrl-L', () => {
    expect(press(picker(), '\x0c')).toEqual({ type: 'redraw' })
  })
})

describe('Picker.key: choosing and quitting', () => {
  it('chooses the selected row on Enter (CR or LF)', () => {
    const p = picker()
    press(p, DOWN)
    expect(press(p, '\r')).toEqual({ type: 'choose', entry: shopAndPay[3] })
    expect(press(picker(), '\n')).toEqual({ type: 'choose', entry: shopAndPay[2] })
  })

  it.each([['q'], ['Q'], ['\x03'], ['\x04']])('quits on %j', (key) => {
    expect(press(picker(), key)).toEqual({ type: 'quit' })
  })

  it('quits on a lone ESC once flush() says no sequence followed', () => {
    const p = picker()
    expect(press(p, ESC)).toEqual({ type: 'none' })
    expect(p.pendingInput).toBe(true)
    expect(p.flush()).toEqual({ type: 'quit' })
    expect(p.pendingInput).toBe(false)
    expect(p.flush()).toEqual({ type: 'none' })
  })

  it('takes ESC followed by a key that starts no sequence as a lone ESC', () => {
    expect(press(picker(), '\x1b\x1b')).toEqual({ type: 'quit' })
    expect(press(picker(), '\x1bx')).toEqual({ type: 'quit' })
  })
})

describe('Picker.key: typing a number', () => {
  it('shows the number in the footer, highlights that row, and opens it on Enter', () => {
    const p = picker()
    expect(press(p, '3')).toEqual({ type: 'redraw' })
    expect(p.selected?.name).toBe('web-2')
    expect(screen(p).at(-1)).toBe('Number: 3  (Enter to open, Backspace to edit, Esc to clear)')
    expect(press(p, '\r')).toEqual({ type: 'choose', entry: shopAndPay[1] })
  })

  it('builds numbers of several digits', () => {
    const p = picker(manyEntries(15), { height: 40 })
    press(p, '1', '2')
    expect(p.selected?.name).toBe('c-12')
    expect(screen(p).at(-1)).toMatch(/^Number: 12 /)
    expect(press(p, '\r')).toMatchObject({ type: 'choose', entry: { name: 'c-12' } })
  })

  it('edits the number with Backspace (DEL or ^H)', () => {
    const p = picker(manyEntries(15), { height: 40 })
    press(p, '1', '4', '\x7f')
    expect(screen(p).at(-1)).toMatch(/^Number: 1 /)
    expect(p.selected?.name).toBe('c-1')
    press(p, '3')
    expect(p.selected?.name).toBe('c-13')
    press(p, '\x08', '\x08')
    expect(screen(p).at(-1)).toBe('↑/↓ or a number, Enter to open, q to quit')
    expect(press(p, '\x7f')).toEqual({ type: 'none' })
  })

  it('shows an inline error for a number out of range, then clears it on the next key', () => {
    const p = picker()
    press(p, DOWN, '9')
    expect(p.selected?.name).toBe('db-1') // an out-of-range number moves nothing
    expect(press(p, '\r')).toEqual({ type: 'redraw' })
    expect(screen(p).at(-1)).toBe('There is no number 9; type 1 to 4. ↑/↓ or a number, Enter to open, q to quit')
    expect(p.render()).toContain('\x1b[31m')
    // The number is gone: Enter now opens the selected row.
    press(p, DOWN)
    expect(screen(p).at(-1)).toBe('↑/↓ or a number, Enter to open, q to quit')
    expect(press(p, '\r')).toEqual({ type: 'choose', entry: shopAndPay[1] })
  })

  it('treats 0 as out of range', () => {
    const p = picker()
    press(p, '0', '\r')
    expect(screen(p).at(-1)).toMatch(/^There is no number 0;/)
  })

  it('clears a typed number or an error with ESC instead of quitting', () => {
    const p = picker()
    // The first ESC clears the number; the second may start a sequence, so it waits for flush().
    expect(press(p, '2', '\x1b\x1b')).toEqual({ type: 'redraw' })
    expect(p.flush()).toEqual({ type: 'quit' })

    const q = picker()
    press(q, '2', ESC)
    expect(q.flush()).toEqual({ type: 'redraw' })
    expect(screen(q).at(-1)).toBe('↑/↓ or a number, Enter to open, q to quit')
    expect(q.flush()).toEqual({ type: 'none' })
    press(q, ESC)
    expect(q.flush()).toEqual({ type: 'quit' })
  })

  it('stops taking digits after six', () => {
    const p = picker()
    press(p, '123456')
    expect(press(p, '7')).toEqual({ type: 'none' })
    expect(screen(p).at(-1)).toMatch(/^Number: 123456 /)
  })

  it('drops the typed number when the selection is moved', () => {
    const p = picker()
    press(p, '3', UP)
    expect(p.selected?.name).toBe('db-1')
    expect(press(p, '\r')).toEqual({ type: 'choose', entry: shopAndPay[3] })
  })
})

describe('Picker.key: input that comes in pieces', () => {
  it('handles several keys in one buffer', () => {
    const p = picker()
    expect(press(p, 'jj')).toEqual({ type: 'redraw' })
    expect(p.selected?.name).toBe('web-2')
    expect(press(p, `${DOWN}${UP}${UP}`)).toEqual({ type: 'redraw' })
    expect(p.selected?.name).toBe('db-1')
  })

  it('stops at the first key that chooses or quits', () => {
    expect(press(picker(), 'j\rq')).toEqual({ type: 'choose', entry: shopAndPay[3] })
    expect(press(picker(), '4\r')).toEqual({ type: 'choose', entry: shopAndPay[0] })
    expect(press(picker(), 'jqj')).toEqual({ type: 'quit' })
  })

  it('forgets pending input after choosing', () => {
    const p = picker()
    expect(press(p, `\r${ESC}`)).toMatchObject({ type: 'choose' })
    expect(p.pendingInput).toBe(false)
  })

  it.each([
    ['ESC | [B', [ESC, '[B']],
    ['ESC [ | B', ['\x1b[', 'B']],
    ['ESC | [ | B', [ESC, '[', 'B']],
    ['ESC O | B', ['\x1bO', 'B']],
    ['ESC [ 1 ; | 5 B', ['\x1b[1;', '5B']]
  ])('joins an escape sequence split as %s', (_name, pieces) => {
    const p = picker()
    const actions = pieces.map((piece) => p.key(Buffer.from(piece)))
    expect(actions.slice(0, -1)).toEqual(pieces.slice(0, -1).map(() => ({ type: 'none' })))
    expect(actions.at(-1)).toEqual({ type: 'redraw' })
    expect(p.selected?.name).toBe('db-1')
    expect(p.pendingInput).toBe(false)
  })

  it('joins a split ESC [ 6 ~ (PageDown)', () => {
    const p = picker(manyEntries(30), { height: 10 })
    expect(p.key(Buffer.from('\x1b[6'))).toEqual({ type: 'none' })
    expect(p.key(Buffer.from('~'))).toEqual({ type: 'redraw' })
    expect(p.selected?.name).toBe('c-6')
  })

  it('handles keys before a split sequence in the same buffer', () => {
    const p = picker()
    expect(p.key(Buffer.from(`j${ESC}[`))).toEqual({ type: 'redraw' })
    expect(p.pendingInput).toBe(true)
    expect(p.key(Buffer.from('Bj'))).toEqual({ type: 'redraw' })
    expect(p.selected?.name).toBe('web-10')
  })

  it('drops a runaway sequence instead of buffering it forever', () => {
    const p = picker()
    press(p, '\x1b[' + '1;'.repeat(40))
    expect(p.pendingInput).toBe(false)
    expect(press(p, 'j')).toEqual({ type: 'redraw' })
  })

  it('skips a malformed CSI and reads the key after it', () => {
    const p = picker()
    expect(press(p, '\x1b[\r')).toMatchObject({ type: 'choose', entry: { name: 'pay-1' } })
  })
})

describe('Picker scrolling', () => {
  it('never draws more lines than the terminal has, and keeps the selected row visible', () => {
    const height = 10
    const p = picker(manyEntries(30), { height })
    for (let i = 0; i < 30; i++) {
      const lines = screen(p)
      expect(lines.length).toBeLessThanOrEqual(height)
      expect(selectedLine(p)).toContain(`${p.selected?.name} `)
      press(p, DOWN)
    }
    expect(p.selected?.name).toBe('c-30')
  })

  it('marks rows hidden above and below', () => {
    const p = picker(manyEntries(30), { height: 10 })
    let lines = screen(p)
    expect(lines[1]).toBe('')
    expect(lines.slice(2, 8)).toEqual([
      'big',
      '   1) c-1    busybox:portcullis   Up 5 minutes',
      '   2) c-2    busybox:portcullis   Up 5 minutes',
      '   3) c-3    busybox:portcullis   Up 5 minutes',
      '   4) c-4    busybox:portcullis   Up 5 minutes',
      '   5) c-5    busybox:portcullis   Up 5 minutes'
    ])
    expect(lines[8]).toBe('  ↓ 25 more')

    press(p, '\x1b[F')
    lines = screen(p)
    expect(lines[1]).toBe('  ↑ 24 more')
    expect(lines[7]).toMatch(/^ {2}30\) c-30 /)
    expect(lines[8]).toBe('')
  })

  it('shows the project heading when scrolling up to its first row', () => {
    const p = picker([...manyEntries(8, 'a'), ...manyEntries(8, 'b').map((e) => ({ ...e, name: `d-${e.name}` }))], { height: 10 })
    press(p, '\x1b[F')
    for (let i = 0; i < 7; i++) press(p, UP)
    expect(p.selected?.name).toBe('d-c-1')
    expect(screen(p).slice(2, 4)).toEqual(['b', '   9) d-c-1   busybox:portcullis   Up 5 minutes'])
  })

  it('follows a typed number out of view', () => {
    const p = picker(manyEntries(30), { height: 10 })
    press(p, '2', '7')
    expect(selectedLine(p)).toContain('27) c-27 ')
  })

  it('shows everything again after a resize to a taller terminal, and keeps the selection visible after a shorter one', () => {
    const p = picker(manyEntries(30), { height: 10 })
    press(p, '\x1b[F')
    p.resize(80, 40)
    const lines = screen(p)
    expect(lines).toHaveLength(35) // title, blank, heading, 30 rows, blank, footer
    expect(lines[1]).toBe('')
    expect(lines[2]).toBe('big')
    p.resize(80, 6)
    expect(screen(p).length).toBeLessThanOrEqual(6)
    expect(selectedLine(p)).toContain('30) c-30')
  })

  it('still shows the selected row and the footer on a tiny terminal', () => {
    const p = picker(manyEntries(30), { height: 3 })
    press(p, 'jjj')
    const lines = screen(p)
    expect(lines).toHaveLength(3)
    expect(lines.at(-1)).toBe('↑/↓ or a number, Enter to open, q to quit')
    expect(selectedLine(p)).toContain('4) c-4')
  })

  it('keeps its size when a client reports 0x0', () => {
    const p = picker(manyEntries(30), { width: 0, height: 0 })
    expect(screen(p)).toHaveLength(24)
    p.resize(0, 0)
    expect(screen(p)).toHaveLength(24)
  })
})

describe('Picker truncation', () => {
  it('cuts every line to the width, marking the cut with …', () => {
    const p = picker([entry('a-project-with-a-very-long-name', 'web-1', { image: 'registry.example.com/team/image:tag' })], { width: 24 })
    const lines = screen(p)
    for (const line of lines) expect(Array.from(line).length).toBeLessThanOrEqual(24)
    expect(lines[0]).toBe('portcullis — containers…')
    expect(lines[2]).toBe('a-project-with-a-very-l…')
    expect(lines[3]).toBe('  1) web-1   registry.e…')
    expect(lines.at(-1)).toBe('↑/↓ or a number, Enter …')
    expect(selectedLine(p)).toBe('  1) web-1   registry.e…')
  })

  it('truncates the error footer too', () => {
    const p = picker(shopAndPay, { width: 30 })
    press(p, '9', '\r')
    expect(screen(p).at(-1)).toBe('There is no number 9; type 1 …')
  })
})

describe('Picker with no containers', () => {
  it('says so, why, and what to do next', () => {
    const p = picker([], { width: 80 })
    const text = screen(p).join(' ')
    expect(text).toContain('alice may not enter any running container.')
    expect(text).toContain('projects.<name>.members')
    expect(text).toContain('ask a policy admin for a role')
    expect(text).toContain('Press any key to leave.')
    expect(p.selected).toBeUndefined()
  })

  it('wraps the message to the width', () => {
    const lines = screen(picker([], { width: 30 }))
    for (const line of lines) expect(Array.from(line).length).toBeLessThanOrEqual(30)
    expect(lines.length).toBeGreaterThan(6)
  })

  it.each([['j'], ['\r'], [ESC], ['\x1b[A']])('quits on any key (%j)', (key) => {
    expect(press(picker([]), key)).toEqual({ type: 'quit' })
  })
})

describe('formatContainerList', () => {
  it('lists containers by project with a hint on how to open one', () => {
    expect(formatContainerList(shopAndPay, 'alice', { host: 'bastion.example.com', port: 2222 })).toBe([
      'Containers alice may enter:',
      '',
      'pay',
      '  pay-1    busybox:portcullis   Up 5 minutes',
      '',
      'shop',
      '  db-1     busybox:portcullis   Up 5 minutes',
      '  web-2    busybox:portcullis   Up 5 minutes',
      '  web-10   busybox:portcullis   Up 5 minutes',
      '',
      'Open one with: ssh -p 2222 alice+<container>@bastion.example.com',
      ''
    ].join('\n'))
  })

  it('leaves -p out for port 22', () => {
    expect(formatContainerList(shopAndPay, 'alice', { host: 'h', port: 22 })).toContain('Open one with: ssh alice+<container>@h\n')
  })

  it('explains an empty list', () => {
    const text = formatContainerList([], 'alice', { host: 'h', port: 2222 })
    expect(text.startsWith('alice may not enter any running container.\n')).toBe(true)
    expect(text).toContain('ask a policy admin for a role')
    expect(text.endsWith('\n')).toBe(true)
    expect(text).not.toContain('\r')
  })
})
