// Docker's multiplexed stream, used by exec without a TTY: each frame is an 8-byte header (stream type, three
// zero bytes, big-endian payload length) followed by the payload. Frames arrive split across reads at any byte.

export type DockerStream = 1 | 2

export class StreamDemuxer {
  #header = Buffer.alloc(8)
  #headerFill = 0
  /** Payload bytes still to come for the current frame; 0 when a header is due. */
  #remaining = 0
  #stream: DockerStream = 1

  constructor (private readonly onFrame: (stream: DockerStream, payload: Buffer) => void) {}

  push (chunk: Buffer): void {
    let offset = 0
    while (offset < chunk.length) {
      if (this.#remaining === 0) {
        const take = Math.min(8 - this.#headerFill, chunk.length - offset)
        chunk.copy(this.#header, this.#headerFill, offset, offset + take)
        this.#headerFill += take
        offset += take
        if (this.#headerFill < 8) return
        this.#headerFill = 0
        // 0 is stdin (never sent to us), 1 stdout, 2 stderr (3 is the daemon's own error stream in newer versions).
        this.#stream = this.#header[0] === 2 || this.#header[0] === 3 ? 2 : 1
        this.#remaining = this.#header.readUInt32BE(4)
        continue
      }
      const take = Math.min(this.#remaining, chunk.length - offset)
      // A view, not a copy: consumers write it on at once.
      this.onFrame(this.#stream, chunk.subarray(offset, offset + take))
      this.#remaining -= take
      offset += take
    }
  }

  /** True when the stream stopped at a frame boundary. */
  get clean (): boolean {
    return this.#remaining === 0 && this.#headerFill === 0
  }
}
