// A daemon that answers portcullis's look-ups from a table of inspect answers by path (anything else: 404), and
// notes what it was asked. It has no event feed and runs no execs: a test that needs those uses a real daemon.
import type { Readable } from 'node:stream'
import type { DockerApi, ExecApi } from '../../src/docker/api.js'
import type { DockerAnswer } from '../../src/docker/http.js'

export class TableDocker implements DockerApi {
  readonly asked: string[] = []

  constructor (private readonly answers: Record<string, unknown>) {}

  async getJson (path: string): Promise<DockerAnswer> {
    this.asked.push(path)
    return path in this.answers ? { status: 200, body: this.answers[path] } : { status: 404, body: { message: 'no such object' } }
  }

  async stream (path: string): Promise<Readable> {
    throw new Error(`the table daemon has no event feed (${path})`)
  }

  execAs (): ExecApi {
    throw new Error('the table daemon runs no execs')
  }
}
