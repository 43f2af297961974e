// A feature's cost on the decision path: the same c=64 load on two `serve`s, one with the feature on and one without,
// measured in turns, window by window (so both see the same machine), and compared by their medians.

import { measureWindow } from './authz-load.js'
import { pluginHttpRequest } from './authz-request.js'
import { TOKEN_HEADER } from './fleet-hosts.js'
import { ms } from './stats.js'

/** The load's call: `docker ps` as alice (an allowed decision, one record each). */
export function listRequest (token) {
  return pluginHttpRequest({ RequestMethod: 'GET', RequestUri: '/v1.41/containers/json', RequestHeaders: { [TOKEN_HEADER]: token } })
}

/** `repeat` window pairs on `hosts.on` and `hosts.off` (prepareHost's), whose serves are `servers.on`/`servers.off`
 * (startHost's). Resolves with the median window of each side, their ratio, and every pair's ratio (sorted). */
export async function measureOnOff (generator, { hosts, servers, repeat, durationMs = 5_000, progress }) {
  const windows = { on: [], off: [] }
  for (let i = 0; i < repeat; i++) {
    for (const name of ['on', 'off']) {
      const host = hosts[name]
      windows[name].push(await measureWindow(generator, {
        socket: host.socket, request: listRequest(host.token), connections: 64, warmupMs: 2_000, durationMs,
        plugin: { pid: servers[name].pid, adminSocket: host.admin }, isLoadRecord: (record) => record.action === 'container.list', progress
      }))
    }
  }
  const median = (list) => [...list].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(list.length / 2)]
  const on = median(windows.on)
  const off = median(windows.off)
  return { on, off, ratio: on.perSecond / off.perSecond, ratios: windows.on.map((w, i) => w.perSecond / windows.off[i].perSecond).sort((a, b) => a - b) }
}

/** serve's CPU per decision in µs, all threads (the main thread). */
function perDecision (window) {
  const us = (share) => (share / window.perSecond * 1e6).toFixed(1)
  return `${us(window.cpu.serve)} (${us(window.cpu.serveMain)})`
}

/** One line for a figure: decisions/s on vs off, the ratio against `target`, the window pairs, p99s and serve's CPU. */
export function onOffLine (what, result, target) {
  const { on, off, ratio, ratios } = result
  return `${what} on vs off, decisions/s c=64: ${Math.round(on.perSecond)} vs ${Math.round(off.perSecond)} = ${ratio.toFixed(2)}× ` +
    `(target ≥ ${target}: ${ratio >= target ? 'met' : 'MISSED'}; window pairs ${ratios.map((r) => r.toFixed(2)).join(', ')}; p99 ${ms(on.latencyMs.p99)} vs ${ms(off.latencyMs.p99)} ms; ` +
    `serve CPU ${Math.round(on.cpu.serve * 100)} % vs ${Math.round(off.cpu.serve * 100)} % of a core; ` +
    // Per decision, and the main thread apart: what the change costs the thread that decides, less moved by other
    // work on the machine than decisions/s.
    `CPU per decision, serve (its main thread), median windows: ${perDecision(on)} µs on, ${perDecision(off)} µs off`
}
