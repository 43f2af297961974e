// `-o json|table` on every command that lists or shows: one rule for which format is asked for, and one table
// renderer whose cells cannot act on the terminal.
import { describe, expect, it } from 'vitest'
import { outputFormat, renderFields, renderTable } from '../../src/cli/output.js'
import { statusFields } from '../../src/cli/status.js'
import { PortcullisError } from '../../src/errors.js'

describe('which format a command prints', () => {
  it('is table by default, json with -o json or its alias --json', () => {
    expect(outputFormat({}, 'status')).toBe('table')
    expect(outputFormat({ output: 'json' }, 'status')).toBe('json')
    expect(outputFormat({ json: true }, 'status')).toBe('json')
    expect(outputFormat({ output: 'table', json: false }, 'status')).toBe('table')
  })

  it('refuses another format, and --json with -o table, as a usage error naming the command', () => {
    for (const values of [{ output: 'yaml' }, { output: 'table', json: true }]) {
      let thrown: unknown
      try { outputFormat(values, 'audit tail') } catch (err) { thrown = err }
      expect(thrown).toBeInstanceOf(PortcullisError)
      expect((thrown as PortcullisError).code).toBe('PORTCULLIS_USAGE')
      expect((thrown as Error).message).toContain('portcullis audit tail --help')
    }
  })
})

describe('the table renderer', () => {
  it('aligns columns under their header, without padding the last one', () => {
    expect(renderTable(['ID', 'USER', 'NOTE'], [['1', 'alice', 'x'], ['200', 'bob', 'longer note']]))
      .toBe('ID   USER   NOTE\n1    alice  x\n200  bob    longer note\n')
  })

  it('shows control and bidi characters in a cell as escapes, so a stored name cannot forge a line or drive the terminal', () => {
    const table = renderTable(['USER'], [['eve\n1 FAKE\x1b]52;c;AAAA\x07\u202e']])
    expect(table).toBe('USER\neve\\x0a1 FAKE\\x1b]52;c;AAAA\\x07\\u202e\n')
    expect(renderFields([['user', 'a\rb']])).toBe('user: a\\x0db\n')
  })
})

describe('`status` without -o json', () => {
  it('shows version, pid and uptime, the policy, the audit head, the bridge and the fleet in a few aligned lines', () => {
    const text = renderFields(statusFields({
      version: '1.2.3',
      pid: 42,
      startedAt: '2026-12-06T10:00:00.000Z',
      policy: { path: '/etc/portcullis/policy.json', digest: 'abcdef0123456789', loadedAt: '2026-12-06T10:00:01.000Z', revision: { revision: 7 } },
      audit: { state: 'ok', head: { seq: 99, hash: 'f'.repeat(64) } },
      bridge: { listen: '0.0.0.0:2222', sessions: 1 },
      fleet: { state: 'shipping', hostId: 'web1', lag: 0, alarms: [], lastError: null }
    }, new Date('2026-12-06T11:30:00.000Z')))
    const lines = text.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^daemon: +version 1\.2\.3, pid 42, up 1h ?30m/)
    expect(text).toContain('digest abcdef012345, fleet revision 7')
    expect(text).toContain('head seq 99 (ffffffffffff)')
    expect(text).toContain('listening on 0.0.0.0:2222, 1 live session(s)')
    expect(text).toContain('shipping as web1, 0 record(s) behind')
    // Every value starts in the same column.
    expect(new Set(lines.map((line) => line.search(/(?<=: +)\S/))).size).toBe(1)
  })

  it('says for each SIEM output what its delivered seq means: handed to the kernel, acknowledged by a RELP receiver (and what is in flight), sealed', () => {
    const text = renderFields(statusFields({
      version: '1',
      pid: 1,
      outputs: [
        { name: 'syslog', state: 'writing', lag: 3, deliveredSeq: 90, sink: { delivery: 'acknowledged by the RELP receiver', inFlight: 7 } },
        { name: 'files', state: 'writing', lag: 0, deliveredSeq: 80, sink: { delivery: 'sealed in a file' } }
      ]
    }))
    expect(text).toContain('output syslog: writing, 3 record(s) behind, delivered up to seq 90 (acknowledged by the RELP receiver), 7 sent and not yet acknowledged')
    expect(text).toContain('output files:  writing, 0 record(s) behind, delivered up to seq 80 (sealed in a file)\n')
  })

  it('says the bridge is off and leaves the fleet out when the daemon has neither', () => {
    const text = renderFields(statusFields({ version: '1', pid: 1, audit: { state: 'failing', head: { seq: 3 } }, bridge: null, fleet: null }))
    expect(text).toMatch(/bridge: +off/)
    expect(text).toMatch(/audit: +failing, head seq 3/)
    expect(text).not.toContain('fleet')
  })
})
