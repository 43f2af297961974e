// RELP frames as librelp's doc/relp.md gives them: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`. The reader takes what a
// receiver sends in any cutting (split across chunks, several in one) and refuses what cannot be a frame, so a
// misbehaving receiver is a coded error of the session, never a crash or a misread answer.
import { describe, expect, it } from 'vitest'
import { encodeRelpFrame, nextTxnr, openOffers, parseOffers, parseRelpAnswer, RELP_MAX_TXNR, RelpFrameError, RelpFrameReader } from '../../src/siem/relp.js'

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8')

describe('RELP frames', () => {
  it('a command is TXNR SP COMMAND SP DATALEN SP DATA LF, DATALEN in bytes; no data is DATALEN 0 and LF', () => {
    expect(encodeRelpFrame(7, 'syslog', 'héllo').toString('utf8')).toBe('7 syslog 6 héllo\n')
    expect(encodeRelpFrame(3, 'close').toString('utf8')).toBe('3 close 0\n')
  })

  it('txnr counts up to 999,999,999 and then starts at 1 again (0 is the server\'s hints)', () => {
    expect(nextTxnr(0)).toBe(1)
    expect(nextTxnr(41)).toBe(42)
    expect(nextTxnr(RELP_MAX_TXNR)).toBe(1)
  })

  it('the open offers relp_version 0, who is speaking and the syslog command', () => {
    expect(openOffers('portcullis', '1.2.3')).toBe('relp_version=0\nrelp_software=portcullis,1.2.3\ncommands=syslog')
    expect(parseOffers('relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n')).toEqual(new Map([
      ['relp_version', ['0']], ['relp_software', ['librelp', '1.11.0', 'http://librelp.adiscon.com']], ['commands', ['syslog']]
    ]))
  })
})

describe('the reader of what a RELP receiver sends', () => {
  // What rsyslog's imrelp (librelp 1.11) answers, byte for byte.
  const openAnswer = '1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n'

  it('several frames in one chunk come out in order, an answer with no data (to close) too', () => {
    const frames = new RelpFrameReader().push(bytes('2 rsp 6 200 OK\n3 rsp 6 200 OK\n4 rsp 0\n0 serverclose 0\n'))
    expect(frames.map((f) => [f.txnr, f.command, f.data.toString()])).toEqual([[2, 'rsp', '200 OK'], [3, 'rsp', '200 OK'], [4, 'rsp', ''], [0, 'serverclose', '']])
  })

  it('a frame split across chunks at every byte comes out once, whole', () => {
    const wire = bytes(openAnswer + '2 rsp 6 200 OK\n')
    for (let cut = 1; cut < wire.length; cut++) {
      const reader = new RelpFrameReader()
      const frames = [...reader.push(wire.subarray(0, cut)), ...reader.push(wire.subarray(cut))]
      expect(frames.map((f) => f.txnr), `cut at ${cut}`).toEqual([1, 2])
      expect(parseRelpAnswer(frames[0]!.data)).toEqual({ status: 200, text: 'OK', body: 'relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog' })
    }
    const reader = new RelpFrameReader()
    const oneByOne = [...wire].flatMap((b) => reader.push(Buffer.from([b])))
    expect(oneByOne.map((f) => f.txnr)).toEqual([1, 2])
  })

  it('a length that does not end where the LF is, a header that cannot be one, or a length beyond the bound is refused', () => {
    const refused = (wire: string, max?: number): void => {
      expect(() => new RelpFrameReader(max).push(bytes(wire)), JSON.stringify(wire)).toThrow(RelpFrameError)
    }
    refused('2 rsp 5 200 OK\n')
    refused('2 rsp 7 200 OK\nX')
    refused('2 rsp 3 200 OK\n')
    refused('HTTP/1.1 400 Bad Request\r\n\r\n')
    refused('<13>1 2026-12-06T00:00:00Z h app - - - plain syslog\n')
    refused('1234567890 rsp 6 200 OK\n')
    refused('2 rsp 1234567890 ')
    refused('2 rsp 6\n200 OK\n')
    refused('2 rsp 999999 ', 1000)
    refused('x'.repeat(100))
  })

  it('a header still coming is waited for, not refused', () => {
    const reader = new RelpFrameReader()
    expect(reader.push(bytes('12'))).toEqual([])
    expect(reader.push(bytes(' rs'))).toEqual([])
    expect(reader.push(bytes('p 6'))).toEqual([])
    expect(reader.push(bytes(' 200 O'))).toEqual([])
    expect(reader.push(bytes('K\n')).map((f) => f.txnr)).toEqual([12])
  })

  it('an answer is a 3-digit status, its text, and after a LF the command\'s data; anything else is refused', () => {
    expect(parseRelpAnswer(bytes('500 queue full'))).toEqual({ status: 500, text: 'queue full', body: '' })
    expect(parseRelpAnswer(bytes('200 OK'))).toEqual({ status: 200, text: 'OK', body: '' })
    expect(parseRelpAnswer(Buffer.alloc(0))).toEqual({ status: 200, text: '', body: '' })
    expect(() => parseRelpAnswer(bytes('OK'))).toThrow(RelpFrameError)
    expect(() => parseRelpAnswer(bytes('20 OK'))).toThrow(RelpFrameError)
  })
})
