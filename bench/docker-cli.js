// The real docker CLI against one private daemon, as a token holder (the token travels the way users send
// it: an HttpHeaders entry in the CLI's config.json). Also builds and imports the one image the bench needs:
// no registry is reachable, so it is the host's static busybox brought in with `docker import`.

import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { writeBusyboxRootfsTar } from '../scripts/lib/busybox-rootfs.js'
import { killPids, onProcessEnd } from './cleanup.js'

const run = promisify(execFile)

/** The Debian docker.io CLI (20.10), matching the daemon; not whatever else is on PATH. */
export const DOCKER_CLI = '/usr/bin/docker'
export const TOKEN_HEADER = 'X-Portcullis-Token'
const BENCH_IMAGE = 'busybox:portcullis-bench'

/** Returns `docker(args)` for the daemon at `socket`, sending `token` (none when undefined); it throws with the
 * CLI's output on a non-zero exit and resolves with stdout. */
export async function dockerFor ({ socket, configDir, token }) {
  await mkdir(configDir, { recursive: true })
  const config = token === undefined ? {} : { HttpHeaders: { [TOKEN_HEADER]: token } }
  await writeFile(path.join(configDir, 'config.json'), JSON.stringify(config), { mode: 0o600 })
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DOCKER_')))
  return (args) => new Promise((resolve, reject) => {
    const child = execFile(DOCKER_CLI, ['--config', configDir, '--host', `unix://${socket}`, ...args], { env, timeout: 120_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      cancelSafetyNet()
      if (err) reject(new Error(`docker ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`))
      else resolve(stdout)
    })
    const cancelSafetyNet = onProcessEnd(() => killPids([child.pid]))
  })
}

/** Builds a rootfs tar in `workDir`: busybox and a link per applet, /etc/passwd, /tmp. */
export function busyboxRootfsTar (workDir) {
  return writeBusyboxRootfsTar(workDir)
}

/** Imports the image and starts one long-running container labelled for `project`; resolves with its full ID. */
export async function startLabelledContainer (docker, { tar, name, project }) {
  await docker(['import', '--change', 'ENV PATH=/bin', '--change', 'CMD ["/bin/sh"]', tar, BENCH_IMAGE])
  const stdout = await docker(['run', '-d', '--name', name, '--network', 'none', '--label', `portcullis.project=${project}`, BENCH_IMAGE, 'sleep', '3600'])
  return stdout.trim().split('\n').pop().trim()
}
