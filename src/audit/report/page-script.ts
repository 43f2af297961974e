// report.html's own script, inline (the page fetches nothing): times in the viewer's zone, the records table's
// filters and pages, expanding cut-off values, and the session player. The pure parts are the functions of
// page-logic.ts and format.ts, inlined as they are, so the tests run exactly what the page runs.

import { formatLocalTime } from './format.js'
import { displayCast, pageSlice, rowMatches } from './page-logic.js'

// The DOM part, in the page's own JavaScript (this project's TypeScript has no DOM types).
const DOM_SCRIPT = `
function localTimes () {
  var zone = ''
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '' } catch (err) {}
  document.querySelectorAll('time[datetime]').forEach(function (el) {
    var ms = Date.parse(el.getAttribute('datetime'))
    if (isNaN(ms)) return
    el.textContent = formatLocalTime(ms)
    el.title = el.getAttribute('datetime') + ' (UTC)'
  })
  var note = document.getElementById('zone-note')
  if (note) note.textContent = 'Times are in your local zone' + (zone ? ' (' + zone + ')' : '') + '; hover over one for its UTC time as recorded.'
}

function recordsTable () {
  var form = document.getElementById('record-filter')
  var table = document.querySelector('table.records')
  if (!form || !table) return
  var rows = Array.prototype.map.call(table.tBodies[0].rows, function (tr) {
    return {
      el: tr,
      facts: {
        user: tr.getAttribute('data-user') || '', decision: tr.getAttribute('data-decision') || '', action: tr.getAttribute('data-action') || '',
        kind: tr.getAttribute('data-kind') || '', time: Number(tr.getAttribute('data-t')), own: tr.getAttribute('data-own') === '1',
        text: tr.textContent.toLowerCase()
      }
    }
  })
  var pager = document.getElementById('record-pager')
  var count = document.getElementById('record-count')
  var label = document.getElementById('record-page')
  var page = 0
  form.hidden = false
  pager.hidden = false
  function localMs (value) {
    if (!value) return null
    var ms = new Date(value).getTime()
    return isNaN(ms) ? null : ms
  }
  function filter () {
    return {
      user: form.elements.user.value, decision: form.elements.decision.value, kind: form.elements.kind.value,
      action: form.elements.action.value.trim(), text: form.elements.text.value.trim(),
      from: localMs(form.elements.from.value), to: localMs(form.elements.to.value), showOwn: form.elements.own.checked
    }
  }
  function show () {
    var f = filter()
    var size = Number(form.elements.size.value) || 100
    var matching = []
    rows.forEach(function (row) {
      var keep = rowMatches(row.facts, f)
      row.el.classList.toggle('filtered-out', !keep)
      if (keep) matching.push(row)
    })
    var slice = pageSlice(matching.length, page, size)
    page = slice.page
    matching.forEach(function (row, i) { row.el.classList.toggle('off-page', i < slice.start || i >= slice.end) })
    var hidden = rows.length - matching.length
    count.textContent = matching.length + ' of ' + rows.length + ' rows match' + (hidden > 0 ? ' (' + hidden + ' filtered out)' : '') + '.'
    label.textContent = matching.length === 0 ? 'no rows' : 'rows ' + (slice.start + 1) + ' to ' + slice.end + ', page ' + (slice.page + 1) + ' of ' + slice.pages
    pager.querySelector('[data-page="prev"]').disabled = slice.page === 0
    pager.querySelector('[data-page="next"]').disabled = slice.page >= slice.pages - 1
  }
  form.addEventListener('input', function () { page = 0; show() })
  form.addEventListener('change', function () { page = 0; show() })
  form.addEventListener('submit', function (event) { event.preventDefault() })
  form.addEventListener('reset', function () { setTimeout(function () { page = 0; show() }, 0) })
  pager.addEventListener('click', function (event) {
    var which = event.target.getAttribute && event.target.getAttribute('data-page')
    if (!which) return
    page += which === 'next' ? 1 : -1
    show()
    table.scrollIntoView({ block: 'start' })
  })
  show()
}

// The denied and elevated tables can hold thousands of rows too: pages of 100, no filters (the records table has them).
function longTables () {
  document.querySelectorAll('table.deny, table.elevated').forEach(function (table) {
    var rows = Array.prototype.slice.call(table.tBodies[0].rows)
    if (rows.length <= 100) return
    var page = 0
    var nav = document.createElement('nav')
    nav.className = 'pager'
    nav.setAttribute('aria-label', 'Pages of ' + (table.closest('section').querySelector('h2').textContent))
    var prev = document.createElement('button')
    var next = document.createElement('button')
    var label = document.createElement('span')
    prev.type = next.type = 'button'
    prev.textContent = 'Previous page'
    next.textContent = 'Next page'
    nav.append(prev, ' ', label, ' ', next)
    table.parentNode.after(nav)
    function show () {
      var slice = pageSlice(rows.length, page, 100)
      page = slice.page
      rows.forEach(function (row, i) { row.classList.toggle('off-page', i < slice.start || i >= slice.end) })
      label.textContent = 'rows ' + (slice.start + 1) + ' to ' + slice.end + ' of ' + rows.length + ', page ' + (slice.page + 1) + ' of ' + slice.pages
      prev.disabled = slice.page === 0
      next.disabled = slice.page >= slice.pages - 1
    }
    prev.addEventListener('click', function () { page--; show() })
    next.addEventListener('click', function () { page++; show() })
    show()
  })
}

function expandable () {
  function toggle (event) {
    var clip = event.target.closest && event.target.closest('.clip')
    if (!clip) return
    if (event.type === 'keydown' && event.key !== 'Enter' && event.key !== ' ') return
    if (event.type === 'keydown') event.preventDefault()
    clip.classList.toggle('open')
  }
  document.addEventListener('click', toggle)
  document.addEventListener('keydown', toggle)
}

// Embedded recordings are parsed and mounted only when asked for, so a page with many sessions opens quickly.
function players () {
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button.play')
    if (!button) return
    var id = button.getAttribute('data-session')
    var holder = document.getElementById('player-' + id)
    var row = holder.closest('tr')
    if (holder.getAttribute('data-mounted') === '1') {
      row.hidden = !row.hidden
      button.textContent = row.hidden ? 'Play' : 'Hide'
      return
    }
    row.hidden = false
    holder.setAttribute('data-mounted', '1')
    button.textContent = 'Hide'
    var data = JSON.parse(document.getElementById('cast-' + id).textContent)
    if (button.getAttribute('data-tty') === 'false') data = displayCast(data)
    window.AsciinemaPlayer.create({ data: data }, holder, { autoPlay: true, fit: 'width', idleTimeLimit: 2 })
  })
}

localTimes()
recordsTable()
longTables()
expandable()
players()
`

export const PAGE_SCRIPT = [formatLocalTime, rowMatches, pageSlice, displayCast].map((fn) => fn.toString()).join('\n') + '\n' + DOM_SCRIPT
