// report.html's stylesheet. Table cells never break a word (see cells.ts for the treatment of each sort of
// value); the print rules show every row the filter keeps, whatever page is on screen.

export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.6em; margin: 0 0 .4em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.verdict { padding: .8em 1em; border-radius: 4px; margin: 1em 0; overflow-wrap: anywhere; }
.verdict.ok { background: #e6f4ea; border: 1px solid #3a8f4b; }
.verdict.bad { background: #fbe9e7; border: 1px solid #c23b22; }
.counts { display: flex; flex-wrap: wrap; gap: 1em; }
.count { border: 1px solid #ddd; border-radius: 4px; padding: .5em 1em; min-width: 7em; }
.count .n { display: block; font-size: 1.6em; font-weight: 600; }
.count .label { color: #555; }
.note { color: #555; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; word-break: normal; overflow-wrap: normal; hyphens: none; }
th { background: #f4f4f4; white-space: nowrap; }
td.word { white-space: nowrap; }
td.prose { min-width: 18em; max-width: 40em; }
td.long { max-width: 18em; }
.nw { white-space: nowrap; }
.clip { max-width: 18em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; cursor: pointer; }
.clip.open { white-space: normal; overflow-wrap: anywhere; cursor: zoom-out; }
.clip:focus { outline: 1px dotted #555; }
table.deny td, tr[data-deny] td, tr.deny td { background: #fdf1ef; }
table.elevated td { background: #fff8e1; }
tr.filtered-out, tr.off-page { display: none; }
.filters { display: flex; flex-wrap: wrap; gap: .4em 1em; align-items: center; margin: .6em 0; padding: .5em; background: #f7f7f7; border: 1px solid #ddd; border-radius: 4px; }
.filters label { white-space: nowrap; }
.pager { margin: .5em 0; }
svg.chart { max-width: 900px; display: block; }
.player { max-width: 1000px; }
footer { margin-top: 2em; color: #555; font-size: 12px; }
code { font-size: 12px; }
@media print {
  body { margin: 0; font-size: 11px; }
  .filters, .pager, button.play, tr.player-row { display: none !important; }
  tr.off-page { display: table-row; }
  .table-wrap { overflow: visible; }
  .clip { white-space: normal; overflow: visible; overflow-wrap: anywhere; }
  th { position: static; }
  section { break-inside: auto; }
  tr { break-inside: avoid; }
}
`
