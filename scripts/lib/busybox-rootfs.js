// The one image the tests, the bench and the demo run: no registry is reachable, so it is the host's static
// busybox with a link per applet, imported with `docker import`. Shared by test/helpers and bench/.

import { execFile } from 'node:child_process'
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

const BUSYBOX_BINARY = '/usr/bin/busybox'

/**
 * Builds `workDir/rootfs` (bin/ with busybox and a link per applet, /etc/passwd, /etc/group, /tmp, /root) and
 * packs it as `workDir/rootfs.tar`, owned by root. Resolves with the tar's path.
 * @param {string} workDir
 * @param {{ passwd?: string, group?: string }} [files]
 * @returns {Promise<string>}
 */
export async function writeBusyboxRootfsTar (workDir, files = {}) {
  const rootfs = path.join(workDir, 'rootfs')
  for (const dir of ['bin', 'etc', 'tmp', 'root']) await mkdir(path.join(rootfs, dir), { recursive: true })
  await chmod(path.join(rootfs, 'tmp'), 0o1777)
  await copyFile(BUSYBOX_BINARY, path.join(rootfs, 'bin', 'busybox'))
  await chmod(path.join(rootfs, 'bin', 'busybox'), 0o755)
  // Linking every applet busybox knows gives sh, ls, cat, id, stty, sha256sum, dd, seq... and the rest.
  const { stdout } = await run(BUSYBOX_BINARY, ['--list'])
  for (const applet of stdout.split('\n').map((name) => name.trim())) {
    if (applet === '' || applet === 'busybox' || applet.includes('/')) continue
    await symlink('busybox', path.join(rootfs, 'bin', applet))
  }
  await writeFile(path.join(rootfs, 'etc', 'passwd'), files.passwd ?? 'root:x:0:0:root:/root:/bin/sh\n')
  await writeFile(path.join(rootfs, 'etc', 'group'), files.group ?? 'root:x:0:\n')
  const tar = path.join(workDir, 'rootfs.tar')
  await run('tar', ['--create', '--file', tar, '--directory', rootfs, '--numeric-owner', '--owner=0', '--group=0', '.'])
  return tar
}
