// The one image the e2e tests use. No registry is reachable, so it is made from the host's static busybox
// and brought in with `docker import`. The rootfs tar is built once per test process.
import { rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describeResult, type Docker } from './docker-cli.js'
import { writeBusyboxRootfsTar } from '../../scripts/lib/busybox-rootfs.js'
import { onProcessEnd } from './safety-net.js'

export const TEST_IMAGE = 'busybox:portcullis'

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'
const GROUP = 'root:x:0:\nnogroup:x:65534:\n'

let rootfsTar: Promise<string> | undefined

/** Path of a tar holding `bin/` (busybox and a link per applet), `/etc/passwd`, `/etc/group`, `/tmp`, `/root`. */
function busyboxRootfsTar(): Promise<string> {
  rootfsTar ??= buildRootfsTar()
  return rootfsTar
}

async function buildRootfsTar(): Promise<string> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'portcullis-image-'))
  onProcessEnd(() => rmSync(workDir, { recursive: true, force: true }))

  return await writeBusyboxRootfsTar(workDir, { passwd: PASSWD, group: GROUP })
}

export interface ImportImageOptions {
  /** Token of a user whose role allows `image.import`; none when the daemon has no authz plugin. */
  token?: string
  tag?: string
}

/** Imports the busybox rootfs as `busybox:portcullis` (or `tag`); throws with the CLI's output on failure. */
export async function importBusyboxImage(docker: Docker, options: ImportImageOptions = {}): Promise<void> {
  const tar = await busyboxRootfsTar()
  const tag = options.tag ?? TEST_IMAGE
  const args = ['import', '--change', 'ENV PATH=/bin', '--change', 'CMD ["/bin/sh"]', tar, tag]
  const result = await docker(args, { token: options.token, timeoutMs: 60_000 })
  if (result.code !== 0) {
    throw new Error(`docker import of ${tag} failed; the importing user needs a role that allows image.import.\n${describeResult(result)}`)
  }
}
