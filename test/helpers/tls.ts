// Mutual TLS for a test daemon: a throwaway CA, a server certificate for 127.0.0.1 and client certificates
// whose CN is the user name (the daemon hands that CN to the plugin as `User`, with UserAuthNMethod "TLS"),
// all made with openssl in a temp dir; and a docker CLI that talks to the daemon over TCP with them.
import { execFile, spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { DOCKER_CLI, type Docker, type DockerResult } from './docker-cli.js'

const run = promisify(execFile)

interface ClientCertificate {
  cert: string
  key: string
}

export interface TlsFiles {
  caCert: string
  serverCert: string
  serverKey: string
  /** One certificate per user name given, with that name as CN. */
  clients: Record<string, ClientCertificate>
}

/** Makes a CA, a server certificate with IP SAN `serverIp`, and a client certificate per user, in `dir`. */
export async function makeTlsFiles(dir: string, options: { serverIp: string; users: string[] }): Promise<TlsFiles> {
  await mkdir(dir, { recursive: true })
  const file = (name: string): string => path.join(dir, name)
  const caCert = file('ca.pem')
  const caKey = file('ca-key.pem')
  await openssl([
    'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-keyout', caKey, '-out', caCert, '-days', '2', '-subj', '/CN=portcullis test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])

  // Go ignores the CN when checking the server's name: the address must be in subjectAltName.
  const signed = async (name: string, subject: string, extensions: string): Promise<ClientCertificate> => {
    const key = file(`${name}-key.pem`)
    const csr = file(`${name}.csr`)
    const cert = file(`${name}.pem`)
    const ext = file(`${name}.ext`)
    await writeFile(ext, extensions)
    await openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', key, '-out', csr, '-subj', subject])
    await openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-CAserial', file('ca.srl'), '-out', cert, '-days', '2', '-extfile', ext])
    return { cert, key }
  }

  const server = await signed('server', `/CN=${options.serverIp}`, `subjectAltName=IP:${options.serverIp}\nextendedKeyUsage=serverAuth\n`)
  const clients: Record<string, ClientCertificate> = {}
  for (const user of options.users) clients[user] = await signed(`client-${user}`, `/CN=${user}`, 'extendedKeyUsage=clientAuth\n')
  return { caCert, serverCert: server.cert, serverKey: server.key, clients }
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args)
  } catch (err) {
    const { stderr } = err as { stderr?: string }
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr ?? (err as Error).message}`, { cause: err })
  }
}

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export interface CreateTlsDockerOptions {
  /** `tcp://127.0.0.1:PORT`. */
  host: string
  caCert: string
  client: ClientCertificate
  /** An empty directory for the CLI's config: no token header, so the certificate is the only identity. */
  configDir: string
}

/** Like createDocker, but over TCP with `--tlsverify` and a client certificate; `token` is not supported. */
export function createTlsDocker(options: CreateTlsDockerOptions): Docker {
  const configReady = mkdir(options.configDir, { recursive: true }).then(() => writeFile(path.join(options.configDir, 'config.json'), '{}\n'))
  return async (args, runOptions = {}) => {
    if (runOptions.token !== undefined) throw new Error('createTlsDocker: the client certificate is the identity; use createDocker for tokens')
    await configReady
    const tlsArgs = [
      '--config', options.configDir,
      '--tlsverify', '--tlscacert', options.caCert, '--tlscert', options.client.cert, '--tlskey', options.client.key,
      '--host', options.host,
    ]
    return runCli([...tlsArgs, ...args], runOptions.timeoutMs ?? 60_000)
  }
}

function runCli(args: string[], timeoutMs: number): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    // Without DOCKER_* from the caller's environment, nothing but these flags chooses the daemon.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('DOCKER_')))
    const child = spawn(DOCKER_CLI, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`could not run ${DOCKER_CLI}: ${err.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, timedOut, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') })
    })
  })
}
