// Last-resort cleanup for what the benchmark started, when it ends without reaching its own `finally`
// (Ctrl-C, a kill, the overall time limit). Cleanups are synchronous and best effort: kill by pid, unmount,
// remove the temp dir. After cleaning up, a caught signal is raised again so the process still dies of it.

const cleanups = new Set()
let installed = false

/** Runs `cleanup` if the process ends first; call the returned function to cancel it. */
export function onProcessEnd (cleanup) {
  install()
  cleanups.add(cleanup)
  return () => { cleanups.delete(cleanup) }
}

export function runAllCleanups () {
  for (const cleanup of [...cleanups].reverse()) {
    cleanups.delete(cleanup)
    try {
      cleanup()
    } catch {
      // keep going: the others still need their turn
    }
  }
}

function install () {
  if (installed) return
  installed = true
  process.on('exit', runAllCleanups)
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    const onSignal = () => {
      runAllCleanups()
      process.off(signal, onSignal)
      process.kill(process.pid, signal)
    }
    process.on(signal, onSignal)
  }
}

/** SIGKILL each pid that is still alive; never throws. */
export function killPids (pids) {
  for (const pid of new Set(pids)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** Signal a child we started; resolves true when it exited within timeoutMs. */
export function signalAndWait (child, signal, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true)
  return new Promise((resolve) => {
    const onExit = () => {
      clearTimeout(timer)
      resolve(true)
    }
    const timer = setTimeout(() => {
      child.off('exit', onExit)
      resolve(false)
    }, timeoutMs)
    child.once('exit', onExit)
    child.kill(signal)
  })
}

/** Runs `stoppers` newest first; one that fails is reported and the rest still run. */
export async function stopInReverse (stoppers, progress) {
  for (const stop of [...stoppers].reverse()) {
    try {
      await stop()
    } catch (err) {
      progress(`while stopping: ${err.message}`)
    }
  }
}
