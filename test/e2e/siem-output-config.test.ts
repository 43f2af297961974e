// Issue 15, item 5: the sealed-file output's directory and who may read it. A group the SIEM agent runs in may read
// the files (0750 directory, 0640 files, that group); a group that does not exist, or a directory another user owns
// (who could then replace sealed files), refuses the start with a coded error, and the refusal is in the chain.
import { chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { portcullisCliOk, REPO_ROOT, runPortcullisCli } from '../helpers/index.js'
import { expectFailedWith, serveWorkspace } from '../helpers/serve-workspace.js'
import { waitUntil } from '../helpers/wait.js'

const workspace = serveWorkspace('portcullis-siem-config-')

function policyWith (dir: string, files: Record<string, unknown>): string {
  const policy = JSON.parse(readFileSync(path.join(REPO_ROOT, 'examples', 'policy.json'), 'utf8')) as Record<string, unknown>
  policy.outputs = { files }
  const file = path.join(dir, 'policy.json')
  writeFileSync(file, JSON.stringify(policy))
  return file
}

/** The store's records (serve stopped), parsed. */
async function records (data: string): Promise<Array<{ action: string, code?: string, reason: string, fields?: Record<string, unknown> }>> {
  return (await portcullisCliOk(['audit', 'export', '--data', data])).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line))
}

describe('the sealed-file output directory', () => {
  it('with outputs.files.group, the agent\'s group may read: the directory is 0750 and the files 0640, owned by that group', { timeout: 60_000 }, async () => {
    const { dir, data } = workspace.pathsIn('group')
    const out = path.join(dir, 'siem')
    const serve = await workspace.startServe(dir, data, { config: policyWith(dir, { dir: out, group: 'adm', maxAge: '1s' }) })
    await waitUntil('a sealed file', () => readdirSync(out).some((name) => name.endsWith('.jsonl')), { detail: serve.stderr })
    await serve.stop()
    const adm = Number(readFileSync('/etc/group', 'utf8').split('\n').find((line) => line.startsWith('adm:'))!.split(':')[2])
    expect(statSync(out).mode & 0o777).toBe(0o750)
    expect(statSync(out).gid).toBe(adm)
    for (const name of readdirSync(out)) {
      expect(statSync(path.join(out, name)).mode & 0o777, name).toBe(0o640)
      expect(statSync(path.join(out, name)).gid, name).toBe(adm)
    }
  })

  it('a group that is not on the host refuses the start with PORTCULLIS_OUTPUT_GROUP, recorded in the chain', { timeout: 60_000 }, async () => {
    const { dir, data } = workspace.pathsIn('no-group')
    const result = await workspace.serveUntilExit(dir, data, { config: policyWith(dir, { dir: path.join(dir, 'siem'), group: 'no-such-siem-agent' }) })
    expectFailedWith(result, 'PORTCULLIS_OUTPUT_GROUP')
    expect(result.stderr).toContain('no-such-siem-agent')
    expect(await records(data)).toContainEqual(expect.objectContaining({ action: 'output.failed', code: 'PORTCULLIS_OUTPUT_GROUP', fields: { output: 'files' } }))
  })

  it('a directory another user owns refuses the start with PORTCULLIS_OUTPUT_DIR (that user could replace sealed files), recorded in the chain', { timeout: 60_000 }, async () => {
    const { dir, data } = workspace.pathsIn('foreign')
    const out = path.join(dir, 'siem')
    mkdirSync(out)
    chownSync(out, 65534, 65534)
    const result = await workspace.serveUntilExit(dir, data, { config: policyWith(dir, { dir: out }) })
    expectFailedWith(result, 'PORTCULLIS_OUTPUT_DIR')
    expect(result.stderr).toContain('owned by uid 65534')
    const refused = (await records(data)).find((record) => record.action === 'output.failed')
    expect(refused).toMatchObject({ code: 'PORTCULLIS_OUTPUT_DIR', fields: { output: 'files' } })
    expect(readdirSync(out)).toEqual([])
  })

  it('the policy refuses a relative directory and a zero maxAge', async () => {
    const { dir } = workspace.pathsIn('invalid')
    const result = await runPortcullisCli(['policy', 'validate', '--config', policyWith(dir, { dir: 'siem', maxAge: '0s' })])
    expect(result.code).not.toBe(0)
    expect(result.stdout + result.stderr).toContain('$.outputs.files.dir')
    expect(result.stdout + result.stderr).toContain('$.outputs.files.maxAge')
  })
})
