// report.html as an auditor reads it, checked in headless Chromium on a bundle of real traffic (a real dockerd and
// serve, the docker CLI, raw API calls, an elevation approved by an admin, SSH sessions with and without a pty):
// no table cell breaks a word, the records table pages and filters, the plugin's own look-ups and pings are out of
// the way, the elevation story is told, times carry their zone, and a session without a pty plays back straight.
// The screenshot is kept in test-output/report-readable/.
import { cp, mkdir, mkdtemp, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectOk, removeDirSync, runPortcullisCli, startStack, TEST_IMAGE, TOKEN_HEADER, type Stack } from '../helpers/index.js'
import { daemonRequest } from '../helpers/daemon-http.js'
import { knownHostsFile, makeSshKey, runSsh, type SshOptions } from '../helpers/ssh.js'
import { freeTcpPort } from '../helpers/tls.js'

const CHROMIUM = '/usr/bin/chromium'
const OUTPUT = path.resolve('test-output/report-readable')
/** Raw API calls by alice: each one a decision, a ping-free response: more rows than one page holds. */
const LISTS = 130
const DENIALS = 110

let stack: Stack
let scratch: string
let reportFile: string
let browser: Browser
let page: Page
let nonPtySession: string
let ptySession: string
let requestId: string
const errors: string[] = []

beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'portcullis-report-'))
  const key = await makeSshKey(scratch, 'ed25519', 'alice')
  const sshPort = await freeTcpPort()
  const elevationPort = await freeTcpPort()
  const url = `http://127.0.0.1:${elevationPort}`
  const policy = JSON.parse(await readFile(new URL('../../examples/policy.json', import.meta.url), 'utf8'))
  policy.users.alice.sshKeys = [key.publicLine]
  policy.bridge = { enabled: true, listen: `127.0.0.1:${sshPort}` }
  stack = await startStack({ policy, users: ['alice', 'bob', 'carol', 'ops', 'mallory'], importAs: 'ops', elevationListen: `127.0.0.1:${elevationPort}` })
  const hostKey = await readFile(path.join(stack.keysDir, 'ssh_host_ed25519_key.pub'), 'utf8')
  const alice: SshOptions = { port: sshPort, login: 'alice+pay-1', keyPath: key.privatePath, knownHosts: await knownHostsFile(scratch, sshPort, hostKey.trim()) }

  const run = (project: string, name: string): string[] => ['run', '-d', '--network', 'none', '--label', `portcullis.project=${project}`, '--name', name, TEST_IMAGE, 'sleep', '3600']
  expectOk(await stack.docker('carol', run('payments', 'pay-1')))
  expectOk(await stack.docker('alice', run('payments', 'pay-a')))
  // A response-heavy run: every allowed call is answered, and each answer is a record.
  for (let i = 0; i < LISTS; i++) {
    const answer = await daemonRequest(stack.dockerd.socket, { method: 'GET', path: '/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22portcullis.project%3Dpayments%22%5D%7D', headers: { [TOKEN_HEADER]: stack.tokens.alice! } })
    expect(answer.status).toBe(200)
  }
  // More refusals than a page holds: the denied table pages too.
  for (let i = 0; i < DENIALS; i++) {
    const answer = await daemonRequest(stack.dockerd.socket, { method: 'POST', path: '/v1.41/containers/pay-1/kill', headers: { [TOKEN_HEADER]: stack.tokens.mallory! } })
    expect(answer.status).toBe(403)
  }
  await stack.docker('bob', ['stop', 'pay-1']) // denied: viewer
  await stack.docker('mallory', ['exec', 'pay-1', 'id']) // denied: no role
  await stack.docker('alice', ['run', '--rm', '--privileged', '--network', 'none', '--label', 'portcullis.project=payments', TEST_IMAGE, 'true']) // denied: unsafe

  const request = async (user: string, args: string[]): Promise<any> => {
    const result = await runPortcullisCli(['request', ...args, '--url', url, '--token', stack.tokens[user]!, '--json'])
    expect(result.code, result.stderr).toBe(0)
    return JSON.parse(result.stdout)
  }
  requestId = (await request('alice', ['create', '--project', 'payments', '--role', 'operator', '--ttl', '1h', '--reason', 'INC-4711 payments queue stuck, need to restart pay-a'])).id
  await request('ops', ['approve', requestId, '--reason', 'checked with the on-call lead'])
  expectOk(await stack.docker('alice', ['rm', '-f', 'pay-a']))

  const plain = await runSsh({ ...alice, tty: false }, 'echo nonpty-one; echo nonpty-two; echo nonpty-three')
  expect(plain.code, plain.stderr).toBe(0)
  const withPty = await runSsh({ ...alice, tty: 'force' }, 'echo pty-one; echo pty-two')
  expect(withPty.code, withPty.stderr).toBe(0)
  const sessions = JSON.parse((await runPortcullisCli(['audit', 'sessions', '--json', '-n', '2', '--admin-socket', stack.plugin.adminSocket])).stdout) as Array<{ session: string, command: unknown }>
  const of = (marker: string): string => sessions.find((s) => JSON.stringify(s.command).includes(marker))!.session
  nonPtySession = of('nonpty-one')
  ptySession = of('pty-one')

  const out = path.join(scratch, 'bundle')
  const made = await runPortcullisCli(['audit', 'bundle', '--since', '1h', '--out', out, '--admin-socket', stack.plugin.adminSocket], { timeoutMs: 60_000 })
  expect(made.code, made.stderr).toBe(0)
  reportFile = path.join(out, 'report.html')
  await mkdir(OUTPUT, { recursive: true })
  await cp(reportFile, path.join(OUTPUT, 'report.html'))

  const { chromium } = await import('playwright-core')
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Berlin', locale: 'en-GB' })
  page = await context.newPage()
  const requests: string[] = []
  page.on('request', (r) => { if (!/^(file|data|blob):/.test(r.url())) requests.push(r.url()) })
  page.on('pageerror', (err) => errors.push(err.message))
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()) })
  await page.goto('file://' + reportFile)
  expect(errors).toEqual([])
  // Only the page's own two scripts may run: named by hash, no 'unsafe-inline'.
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')
  expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+' 'sha256-[A-Za-z0-9+/=]+' 'wasm-unsafe-eval';/)
  expect(requests).toEqual([])
})

afterAll(async () => {
  await browser?.close()
  await stack?.stop()
  if (scratch !== undefined) removeDirSync(scratch)
})

/** Words (whitespace-separated) in visible table cells that the layout split over two lines anywhere but right
 * after `-`, `/`, `?` or `&`: each word's characters are measured with Range.getClientRects. */
async function brokenWords (): Promise<string[]> {
  return await page.evaluate(() => {
    const broken: string[] = []
    const lineOf = (node: Text, at: number): number => {
      const range = document.createRange()
      range.setStart(node, at)
      range.setEnd(node, at + 1)
      const rect = Array.from(range.getClientRects()).find((r) => r.width > 0)
      return rect === undefined ? Number.NaN : Math.round(rect.top)
    }
    for (const cell of Array.from(document.querySelectorAll('td, th'))) {
      if ((cell as HTMLElement).offsetParent === null || cell.closest('.ap-player') !== null) continue
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT)
      for (let node = walker.nextNode() as Text | null; node !== null; node = walker.nextNode() as Text | null) {
        const text = node.data
        for (const match of text.matchAll(/\S+/g)) {
          const range = document.createRange()
          range.setStart(node, match.index)
          range.setEnd(node, match.index + match[0].length)
          const tops = new Set(Array.from(range.getClientRects()).filter((r) => r.width > 0).map((r) => Math.round(r.top)))
          if (tops.size < 2) continue
          for (let i = 1; i < match[0].length; i++) {
            const at = match.index + i
            if (lineOf(node, at) !== lineOf(node, at - 1) && !/[-/?&]/.test(text[at - 1]!)) {
              broken.push(`${match[0]} (in ${cell.tagName.toLowerCase()} of ${cell.closest('table')?.className ?? '?'})`)
              break
            }
          }
        }
      }
    }
    return broken
  })
}

const visibleRecordRows = async (): Promise<Array<{ seq: string, user: string, decision: string, own: boolean }>> =>
  await page.$$eval('table.records tbody tr', (rows) => rows.filter((r) => (r as HTMLElement).offsetParent !== null).map((r) => ({
    seq: (r as HTMLTableRowElement).cells[0]!.textContent!, user: r.getAttribute('data-user')!, decision: r.getAttribute('data-decision')!, own: r.getAttribute('data-own') === '1'
  })))

describe('report.html in headless Chromium', () => {
  it('no table cell breaks a word, at a desktop width and at a narrow one', async () => {
    expect(await brokenWords()).toEqual([])
    await page.setViewportSize({ width: 760, height: 900 })
    expect(await brokenWords()).toEqual([])
    await page.setViewportSize({ width: 1280, height: 900 })
    // Codes and headings are whole.
    const codes = await page.$$eval('table.deny td:nth-child(7)', (cells) => cells.map((c) => c.getBoundingClientRect().height))
    expect(codes.length).toBeGreaterThan(0)
  })

  it('a long value is cut with an ellipsis, whole in its title, and opens in full when clicked', async () => {
    const clip = page.locator('table.records .clip:visible').first()
    const full = await clip.getAttribute('title')
    expect(full?.length).toBeGreaterThan(24)
    expect(await clip.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true)
    await clip.click()
    expect(await clip.evaluate((el) => el.classList.contains('open') && el.scrollWidth <= el.clientWidth + 1)).toBe(true)
    await clip.click()
  })

  it('the records table shows one page, folds responses into their decision, and hides the plugin\'s own look-ups and pings', async () => {
    const rows = await visibleRecordRows()
    expect(rows.length).toBe(100)
    const height = await page.locator('table.records').evaluate((t) => t.getBoundingClientRect().height)
    const rowHeight = await page.locator('table.records tbody tr').first().evaluate((r) => r.getBoundingClientRect().height)
    expect(height).toBeLessThan(rowHeight * 100 * 2.5)
    expect(rows.some((r) => r.own)).toBe(false)
    expect(await page.locator('table.records tbody tr[data-kind="response"]').count()).toBe(0)
    // A raw list call's row carries its answer's status.
    const listed = page.locator('table.records tbody tr[data-action="container.list"][data-user="alice"]').first()
    expect(await listed.locator('td').nth(8).textContent()).toBe('200')
    expect(await page.locator('#record-count').textContent()).toMatch(/^\d+ of \d+ rows match \(\d+ filtered out\)\.$/)
  })

  it('paging moves through the rows, and the filter narrows them', async () => {
    const first = (await visibleRecordRows()).map((r) => r.seq)
    await page.locator('#record-pager').getByRole('button', { name: 'Next page' }).click()
    const second = (await visibleRecordRows()).map((r) => r.seq)
    expect(second.length).toBeGreaterThan(0)
    expect(second.filter((seq) => first.includes(seq))).toEqual([])
    expect(Number(second[0])).toBeGreaterThan(Number(first.at(-1)))

    const field = (name: string) => page.locator(`#record-filter [name="${name}"]`)
    await field('user').selectOption('bob')
    const bob = await visibleRecordRows()
    expect(bob.length).toBeGreaterThan(0)
    expect(bob.every((r) => r.user === 'bob')).toBe(true)
    await field('decision').selectOption('deny')
    expect((await visibleRecordRows()).every((r) => r.user === 'bob' && r.decision === 'deny')).toBe(true)
    await page.getByRole('button', { name: 'Clear' }).click()
    await field('text').fill('privileged')
    const text = await page.$$eval('table.records tbody tr', (rows) => rows.filter((r) => (r as HTMLElement).offsetParent !== null).map((r) => r.textContent!.toLowerCase()))
    expect(text.length).toBeGreaterThan(0)
    expect(text.every((t) => t.includes('privileged'))).toBe(true)
    await page.getByRole('button', { name: 'Clear' }).click()
    // A time range: nothing after the last record.
    await field('from').fill('2099-01-01T00:00:00')
    expect(await visibleRecordRows()).toEqual([])
    await page.getByRole('button', { name: 'Clear' }).click()

    const ownLabel = field('own')
    const own = Number(/\((\d+)\)/.exec((await page.locator('label:has(input[name="own"])').textContent())!)![1])
    expect(own).toBeGreaterThan(0)
    await ownLabel.check()
    await field('size').selectOption('500')
    expect((await visibleRecordRows()).filter((r) => r.own).length).toBe(Math.min(own, 500))
    await ownLabel.uncheck()
    await field('size').selectOption('100')
  })

  it('the denied attempts page too', async () => {
    const visible = async (): Promise<number> => await page.$$eval('table.deny tbody tr', (rows) => rows.filter((r) => (r as HTMLElement).offsetParent !== null).length)
    expect(await page.locator('table.deny tbody tr').count()).toBeGreaterThan(DENIALS)
    expect(await visible()).toBe(100)
    const pager = page.locator('#denied nav.pager')
    await pager.getByRole('button', { name: 'Next page' }).click()
    expect(await visible()).toBe(await page.locator('table.deny tbody tr').count() - 100)
    await pager.getByRole('button', { name: 'Previous page' }).click()
    expect(await visible()).toBe(100)
  })

  it('printing shows every row the filter keeps, whatever page is on screen', async () => {
    await page.emulateMedia({ media: 'print' })
    const printed = await visibleRecordRows()
    expect(printed.length).toBeGreaterThan(100)
    expect(printed.some((r) => r.own)).toBe(false)
    expect(await page.$$eval('table.deny tbody tr', (rows) => rows.filter((r) => (r as HTMLElement).offsetParent !== null).length)).toBeGreaterThan(DENIALS)
    await page.emulateMedia({ media: 'screen' })
  })

  it('the charts leave out the plugin\'s own look-ups and pings, and say so', async () => {
    expect(await page.locator('#charts-excluded').textContent()).toMatch(/Not counted here: [1-9]\d* of portcullis's own look-ups .* and [1-9]\d* pings \(system\.ping\)/)
    const perUser = await page.locator('#charts svg').nth(1).textContent()
    expect(perUser).toContain('alice')
    expect(perUser).not.toContain('portcullis')
    expect(perUser).not.toContain('(anonymous)')
  })

  it('the elevation request shows its reason, who approved it and when, and how long the grant lasts', async () => {
    const row = page.locator('table.elevation-requests tr', { hasText: requestId })
    const cells = await row.locator('td').allTextContents()
    expect(cells).toContain('INC-4711 payments queue stuck, need to restart pay-a')
    expect(cells).toContain('approved')
    expect(cells).toContain('ops: checked with the on-call lead')
    expect(cells).toContain('1 h')
    expect(cells).toContain('developer → operator')
    expect(await row.locator('time').count()).toBeGreaterThanOrEqual(3)
  })

  it('times are local with the zone named, the recorded UTC time in the title, and durations in words', async () => {
    const times = await page.$$eval('time[datetime]', (els) => els.map((el) => ({ text: el.textContent!, iso: el.getAttribute('datetime')!, title: (el as HTMLElement).title })))
    expect(times.length).toBeGreaterThan(100)
    for (const time of times.slice(0, 50)) {
      expect(time.text).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T$/)
      const offsetHours = time.text.endsWith('CEST') ? 2 : 1
      expect(time.text.slice(0, 19)).toBe(new Date(Date.parse(time.iso) + offsetHours * 3_600_000).toISOString().slice(0, 19).replace('T', ' '))
      expect(time.title).toBe(`${time.iso} (UTC)`)
    }
    expect(await page.locator('#zone-note').textContent()).toContain('Europe/Berlin')
    expect(await page.locator('header').textContent()).toMatch(/\((\d+ (min|s|h))( \d+ (s|min))?\)/)
    const duration = await page.locator(`#session-${nonPtySession} td`).nth(7).textContent()
    expect(duration).toMatch(/^\d+ (ms|s)( \d+ s)?$|^\d+ min( \d+ s)?$/)
  })

  it('a session without a pty plays back with every line at column 0; one with a pty too', async () => {
    expect(await page.locator(`#session-${nonPtySession} td`).nth(5).textContent()).toBe('no pty')
    expect(await page.locator(`#session-${ptySession} td`).nth(5).textContent()).toBe('pty')
    const linesOf = async (session: string, marker: string): Promise<string[]> => {
      await page.locator(`button.play[data-session="${session}"]`).click()
      const holder = page.locator(`#player-${session}`)
      await page.waitForFunction(([id, text]) => document.getElementById(`player-${id!}`)?.textContent?.includes(`${text!}three`) === true ||
        (document.getElementById(`player-${id!}`)?.textContent?.includes(`${text!}two`) === true && text === 'pty-'), [session, marker], { timeout: 20_000 })
      return (await holder.locator('.ap-line').allTextContents()).map((l) => l.replace(/\u00a0/g, ' ')).filter((l) => l.includes(marker))
    }
    const plain = await linesOf(nonPtySession, 'nonpty-')
    expect(plain.map((l) => l.trimEnd())).toEqual(['nonpty-one', 'nonpty-two', 'nonpty-three'])
    await mkdir(OUTPUT, { recursive: true })
    const shot = path.join(OUTPUT, 'report.png')
    await page.locator(`#session-${nonPtySession}`).scrollIntoViewIfNeeded()
    await page.screenshot({ path: shot, fullPage: false })
    console.log(`report.html screenshot (player of a session without a pty): ${shot}`)
    const withPty = await linesOf(ptySession, 'pty-')
    expect(withPty.map((l) => l.trimEnd()).filter((l) => /^pty-/.test(l))).toEqual(['pty-one', 'pty-two'])
    expect(errors, 'no script refused by the page\'s Content-Security-Policy, no error').toEqual([])
    await page.screenshot({ path: path.join(OUTPUT, 'report-full.png'), fullPage: true })
    console.log(`report.html full-page screenshot: ${path.join(OUTPUT, 'report-full.png')}`)
  })
})
