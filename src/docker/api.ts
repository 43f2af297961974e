// The seam between portcullis and the Docker daemon: what the look-ups (resolver, image look-ups, adoption, the
// bridge's container look-ups, the event feed) and the bridge's sessions ask of it. DockerClient (client.ts) is the
// implementation `serve` runs, over http.ts; tests answer from a table (test/fakes/docker.ts).

import type { Duplex, Readable } from 'node:stream'
import type { DockerAnswer } from './http.js'

export interface ExecCreateBody {
  Cmd: string[]
  Tty: boolean
  AttachStdin: boolean
  AttachStdout: boolean
  AttachStderr: boolean
  Env?: string[]
  DetachKeys?: string
}

export interface ExecState {
  Running: boolean
  ExitCode: number | null
  Pid: number
  ContainerID: string
}

export interface ExecStream {
  /** The raw stream, from its first byte: bytes that arrived with the response head are put back in front. */
  socket: Duplex
}

/** The exec calls of one caller (a bridge session's grant): every failure is a PORTCULLIS_EXEC_FAILED. */
export interface ExecApi {
  /** The new exec's ID. */
  create: (container: string, body: ExecCreateBody) => Promise<string>
  /** Starts the exec and hands over the raw stream. */
  start: (execId: string, tty: boolean) => Promise<ExecStream>
  resize: (execId: string, cols: number, rows: number) => Promise<void>
  inspect: (execId: string) => Promise<ExecState>
}

export interface DockerApi {
  /** portcullis's own GET of a JSON document (`path` without the version: `/containers/x/json`), marked as its
   * own so the plugin lets it through; 404 comes back as a status, not an error. */
  getJson: (path: string) => Promise<DockerAnswer>
  /** A streaming GET of portcullis's own (the events feed); the caller owns the stream. */
  stream: (path: string) => Promise<Readable>
  /** The exec calls made as whoever `headers` say (a bridge session's grant header), judged as that caller. */
  execAs: (headers: Record<string, string>) => ExecApi
}
