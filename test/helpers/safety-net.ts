// Last-resort cleanup for what a test process started, when it ends without calling stop().
// vitest ends its fork workers with SIGTERM, which skips 'exit' listeners, so signals are caught too;
// after cleaning up, the signal is raised again so the process still dies of it.
const cleanups = new Set<() => void>()
let installed = false

/** Runs `cleanup` (synchronous, best effort) if the process ends first; call the returned function to cancel. */
export function onProcessEnd(cleanup: () => void): () => void {
  install()
  cleanups.add(cleanup)
  return () => {
    cleanups.delete(cleanup)
  }
}

function runAll(): void {
  for (const cleanup of [...cleanups].reverse()) {
    cleanups.delete(cleanup)
    try {
      cleanup()
    } catch {
      // keep going: the others still need their turn
    }
  }
}

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', runAll)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = (): void => {
      runAll()
      process.off(signal, onSignal)
      process.kill(process.pid, signal)
    }
    process.on(signal, onSignal)
  }
}
