/**
 * report.html: one self-contained page per batch (inline CSS and JS, SVG
 * chart, no network), for someone who has never seen exodetect. It sits at
 * results/<batchId>/report.html; overlay thumbnails and the review view's
 * previews are referenced relative to it (overlays/...jpg, previews/...jpg).
 * Every string that comes from data is escaped. With review data (summarize
 * passes it), the page also lets a person correct the detections
 * (review-page.ts, review-script.ts).
 */
import type { OutlineMethod } from '../../shared/contracts.js';
import { DEFAULT_MODEL_VERSION } from '../../shared/keys.js';
import { plural, scoreSourceWords } from '../../shared/wording.js';
import type { Estimate } from '../statistics.js';
import type { BatchSummary, ImageSummaryRow } from '../summary.js';
import { escapeHtml as esc, formatNumber as num, formatPercent, relativeUrl } from './html.js';
import { renderReviewSection, renderReviewView, REVIEW_STYLE, reviewTableCell } from './review-page.js';
import { formatScaleRange, scaleGroups, scaleWarnings } from '../scale-notes.js';

export interface ReportProps {
  /** Overlays shown in the gallery (the table links every image's overlay). Default 48. */
  readonly galleryLimit?: number;
  /** The batch's review data (ReviewDataCollector.serialize()); without it the page has no review view. */
  readonly review?: string;
}

/** The warning near the top of the page when an image's scale is in doubt (the console's "Check the scale"). */
function scaleWarningBanner(summary: BatchSummary): string {
  const questioned = scaleWarnings(summary);
  if (questioned.length === 0) return '';
  const items = questioned.map((w) => `<li>${esc(w)}</li>`).join('');
  return `<div class="banner warn" id="scale-warning-banner" role="alert"><strong>Check the scale of ${num(questioned.length)} image${questioned.length === 1 ? '' : 's'}</strong>: every size on this page depends on it.<ul>${items}</ul></div>`;
}

/** The warning at the top of the page when any image was sized at an assumed scale. */
function assumedScaleBanner(summary: BatchSummary): string {
  const n = summary.images.assumed_scale ?? 0;
  if (n === 0) return '';
  const a = summary.diameter_nm_assumed_scale;
  const scales = [...new Set(summary.calibration.filter((c) => c.source === 'assumed').map((c) => Number(c.nm_per_px.toPrecision(4))))].join(', ');
  const sizes = a?.d50 ? ` Their ${num(a.count)} sized vesicles (median ${num(a.d50.value, 1)} nm at that scale) are kept out of the statistics below.` : ' Their sizes are kept out of the statistics below.';
  return `<div class="banner" id="assumed-scale-banner" role="alert"><strong>${num(n)} of ${num(summary.images.processed)} image${summary.images.processed === 1 ? ' was' : 's were'} sized at an ASSUMED scale</strong> (${esc(scales)} nm/px, the model's training scale): neither the batch, the file nor a readable scale bar gave one, so their sizes may be off by any factor.${sizes} Set <code>nm_per_px</code> in batch.json (or <code>--nm-per-px</code>) to size them. They are marked \u201cassumed\u201d in the table.</div>`;
}

/**
 * The warning at the top of the page when the bundled default model did the detecting: it has never seen a
 * real micrograph, and a report read without the console's caveat would carry its counts at face value.
 */
function bundledModelBanner(summary: BatchSummary): string {
  const bundled = summary.models.find((m) => m.version === DEFAULT_MODEL_VERSION);
  if (!bundled) return '';
  const which = bundled.images === summary.images.processed ? 'These counts come' : `The counts of ${num(bundled.images)} of ${num(summary.images.processed)} images come`;
  return `<div class="banner warn" id="bundled-model-banner" role="alert"><strong>${which} from the bundled default model</strong>, which was trained on synthetic micrographs only. On a public set of real negative-stain micrographs (not shipped) it found about two thirds of the labelled particles, and half of what it reported were particles the experts had not labelled, mostly small ones. Look at the overlays before you trust the counts and sizes. A model trained on about 30 annotated images of your own (<code>exodetect train</code>) did much better there: AP50 0.89 against 0.61 with 30 images holding about 100 particles; check yours with <code>exodetect evaluate</code> on other annotated images.</div>`;
}

/** Which model counted, said at the top (the details are under "How the numbers were obtained"). */
function modelsLine(summary: BatchSummary): string {
  if (summary.models.length === 0) return '';
  const name = (m: BatchSummary['models'][number]) => (m.version === DEFAULT_MODEL_VERSION ? 'the bundled default model' : `model <code>${esc(m.version)}</code>`);
  const several = summary.models.length > 1;
  return ` <span id="counted-by">\u00b7 counted by ${summary.models.map((m) => `${name(m)}${several ? ` (${plural(m.images, 'image')})` : ''}`).join(', ')}</span>`;
}

const OUTLINE_METHOD_WORDS: Record<OutlineMethod, string> = {
  model: "drawn by the model (its outline output), where no edge was found in the image",
  'image-fit': 'fitted in the image inside each box: the edge where the light vesicle meets the dark stain, along 48 rays from the box centre',
  box: 'not found, so sized as the ellipse inscribed in the box, \u221a(width \u00d7 height)',
};

/** One sentence: which diameter the histogram and statistics show, and how the outlines were obtained. */
export function sizingSentence(summary: BatchSummary): string {
  return `Diameters shown are the <strong>area-equivalent diameter of each vesicle's outline</strong> (the diameter of the circle with the outline's area).${outlineSentences(summary)}`;
}

/** How the outlines were obtained, and what the boxes alone would have said. */
function outlineSentences(summary: BatchSummary): string {
  const s = summary.sizing;
  const total = Object.values(s.outline_methods).reduce((a, b) => a + b, 0);
  const methods = (Object.entries(s.outline_methods) as [OutlineMethod, number][]).filter(([, n]) => n > 0);
  const how =
    total === 0
      ? ''
      : methods.length === 1
        ? ` Outlines ${OUTLINE_METHOD_WORDS[methods[0]![0]]}.`
        : ` Outlines: ${methods.map(([m, n]) => `${num(n)} ${OUTLINE_METHOD_WORDS[m]}`).join('; ')}.`;
  const box = s.box_d50_nm !== null && summary.diameter_nm.d50 ? ` From the boxes alone (\u221a(width \u00d7 height)) the same vesicles would read D50 ${num(s.box_d50_nm, 1)} nm.` : '';
  return `${how}${box}`;
}

function ciText(estimate: Estimate | null, digits = 1): string {
  if (!estimate?.ci) return '';
  return `${num(estimate.ci[0], digits)}\u2013${num(estimate.ci[1], digits)}`;
}

function statRow(label: string, estimate: Estimate | null, explanation: string): string {
  return `<tr><th scope="row">${esc(label)}</th><td class="num">${estimate ? num(estimate.value, 1) : '\u2013'}</td><td class="num">${esc(ciText(estimate)) || '\u2013'}</td><td>${esc(explanation)}</td></tr>`;
}

/** Nice round tick step for a maximum value. */
function tickStep(max: number, target: number): number {
  const raw = max / target;
  const base = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * base >= raw) return m * base;
  return 10 * base;
}

export function renderHistogramSvg(summary: BatchSummary): string {
  const bins = summary.histogram.bins;
  if (bins.length === 0) return '<p class="empty">No vesicles were detected, so there is no size distribution to show.</p>';
  const width = 760;
  const height = 300;
  const m = { top: 28, right: 16, bottom: 46, left: 56 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const x0 = bins[0]!.from;
  const x1 = bins[bins.length - 1]!.to;
  const maxCount = Math.max(1, ...bins.map((b) => b.sized + b.excluded));
  const yStep = maxCount <= 5 ? 1 : tickStep(maxCount, 5);
  const yMax = Math.ceil(maxCount / yStep) * yStep;
  const sx = (v: number): number => m.left + ((v - x0) / (x1 - x0)) * plotW;
  const sy = (v: number): number => m.top + plotH - (v / yMax) * plotH;
  const parts: string[] = [];
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    const y = sy(v).toFixed(1);
    parts.push(`<line class="grid" x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}"/><text class="tick" x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${num(v)}</text>`);
  }
  for (const b of bins) {
    const x = sx(b.from);
    const w = Math.max(0.5, sx(b.to) - x - 1);
    const tip = `${num(b.from, 1)}\u2013${num(b.to, 1)} nm: ${b.sized} sized${b.excluded ? `, ${b.excluded} excluded` : ''}`;
    const sizedTop = sy(b.sized);
    const totalTop = sy(b.sized + b.excluded);
    parts.push(
      `<g><title>${esc(tip)}</title>` +
        (b.sized ? `<rect class="bar" x="${x.toFixed(1)}" y="${sizedTop.toFixed(1)}" width="${w.toFixed(1)}" height="${(sy(0) - sizedTop).toFixed(1)}"/>` : '') +
        (b.excluded ? `<rect class="bar-excluded" x="${x.toFixed(1)}" y="${totalTop.toFixed(1)}" width="${w.toFixed(1)}" height="${(sizedTop - totalTop).toFixed(1)}"/>` : '') +
        `</g>`,
    );
  }
  const labelEvery = Math.max(1, Math.ceil(bins.length / 10));
  bins.forEach((b, i) => {
    if (i % labelEvery === 0) parts.push(`<text class="tick" x="${sx(b.from).toFixed(1)}" y="${m.top + plotH + 16}" text-anchor="middle">${num(b.from, b.from % 1 ? 1 : 0)}</text>`);
  });
  const last = bins[bins.length - 1]!;
  if (bins.length % labelEvery === 0) parts.push(`<text class="tick" x="${sx(last.to).toFixed(1)}" y="${m.top + plotH + 16}" text-anchor="middle">${num(last.to, last.to % 1 ? 1 : 0)}</text>`);
  const d = summary.diameter_nm;
  const markers: [string, Estimate | null][] = [
    ['D10', d.d10],
    ['D50', d.d50],
    ['D90', d.d90],
  ];
  for (const [label, est] of markers) {
    if (!est) continue;
    const x = sx(est.value).toFixed(1);
    parts.push(`<line class="marker" x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + plotH}"/><text class="marker-label" x="${x}" y="${m.top - 8}" text-anchor="middle">${label} ${num(est.value, 0)}</text>`);
  }
  parts.push(`<line class="axis" x1="${m.left}" x2="${m.left + plotW}" y1="${sy(0)}" y2="${sy(0)}"/>`);
  parts.push(`<text class="axis-label" x="${m.left + plotW / 2}" y="${height - 6}" text-anchor="middle">Area-equivalent diameter of the outline (nm)</text>`);
  parts.push(`<text class="axis-label" transform="translate(14 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">Vesicles per bin</text>`);
  return `<svg id="histogram" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="histogram-title histogram-desc" xmlns="http://www.w3.org/2000/svg"><title id="histogram-title">Diameter distribution</title><desc id="histogram-desc">${esc(`${d.count} sized vesicles in bins of ${num(summary.histogram.bin_width, summary.histogram.bin_width % 1 ? 1 : 0)} nm`)}</desc>${parts.join('')}</svg>`;
}

function overlayButton(row: ImageSummaryRow, index: number): string {
  if (!row.overlay) return '';
  const caption = `${row.file} \u2014 ${row.detections} vesicle${row.detections === 1 ? '' : 's'}`;
  return `<figure class="thumb"><a href="${esc(relativeUrl(row.overlay))}" data-lightbox="${index}" data-caption="${esc(caption)}"><img loading="lazy" src="${esc(relativeUrl(row.overlay))}" alt="${esc(`Overlay of ${row.file}`)}"></a><figcaption><span class="file">${esc(row.file)}</span><span class="count">${row.detections}</span></figcaption></figure>`;
}

/** Rows laid out at first; the rest wait behind a "show all" button (layout of 10,000 rows takes seconds). */
const TABLE_PAGE = 500;

function imageRow(row: ImageSummaryRow, index: number, withReview: boolean): string {
  const hidden = index >= TABLE_PAGE ? ' hidden' : '';
  const cell = (value: number | null, digits = 0): string => `<td class="num" data-value="${value === null ? '' : Number(value.toFixed(3))}">${num(value, digits)}</td>`;
  const file = row.overlay
    ? `<a href="${esc(relativeUrl(row.overlay))}" data-lightbox-link data-caption="${esc(`${row.file} \u2014 ${row.detections} vesicles`)}">${esc(row.file)}</a>`
    : esc(row.file);
  if (row.status === 'error') {
    return `<tr class="failed"${hidden}><td data-value="${esc(row.file)}">${file}</td><td class="num" data-value="-1">failed</td><td class="num" data-value="-1">\u2013</td><td class="num" data-value="-1">\u2013</td><td class="num" data-value="-1">\u2013</td><td class="num" data-value="">\u2013</td><td>${esc(row.error?.code ?? '')}</td>${withReview ? reviewTableCell(row) : ''}</tr>`;
  }
  const source = row.scale_assumed
    ? `<span class="assumed" title="${esc(row.nm_per_px_detail ?? '')}">(ASSUMED)</span>`
    : `<span class="muted" title="${esc(row.nm_per_px_detail ?? '')}">(${esc(row.nm_per_px_source ?? '')})</span>`;
  return `<tr${hidden}${row.scale_assumed ? ' class="scale-assumed"' : ''}><td data-value="${esc(row.file)}">${file}</td>${cell(row.detections)}${cell(row.sized)}${cell(row.on_edge)}${cell(row.detections - row.in_size_range)}${cell(row.median_diameter_nm, 1)}<td data-value="${row.nm_per_px ?? ''}">${num(row.nm_per_px, 3)} ${source}</td>${withReview ? reviewTableCell(row) : ''}</tr>`;
}

const STYLE = `
:root{--ink:#1a202c;--muted:#5a6577;--line:#e2e8f0;--bg:#f7f9fc;--accent:#2563a8;--accent-soft:#dbe8f6;--excluded:#c3cad6;--bad:#b42318;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
header{background:#13253f;color:#fff;padding:28px 0 24px}
header p{margin:4px 0 0;color:#c5d3e8}
.wrap{max-width:1120px;margin:0 auto;padding:0 24px}
h1{margin:0;font-size:26px;font-weight:650;letter-spacing:-.01em}
h2{font-size:19px;margin:36px 0 12px;font-weight:650}
h3{font-size:15px;margin:20px 0 6px}
.lead{font-size:16.5px;max-width:860px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:14px;margin:22px 0 8px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.card .label{color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:28px;font-weight:650;line-height:1.2;margin-top:4px;font-variant-numeric:tabular-nums}
.card .value small{font-size:15px;font-weight:500;color:var(--muted)}
.card .sub{color:var(--muted);font-size:13px}
.card.bad .value{color:var(--bad)}
.banner{background:#fdecea;border:1px solid #f3b8b2;color:#7a1d14;border-radius:10px;padding:14px 18px;margin:18px 0 0;font-size:15px}
.banner.warn{background:#fff6e0;border-color:#f0d18a;color:#6b4a00}
.banner ul{margin:6px 0 0;padding-left:20px}
.assumed{color:var(--bad);font-weight:600}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:4px 22px 20px;margin:18px 0}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:13px}
td.num,th.num{text-align:right}
.muted{color:var(--muted)}
.legend{display:flex;gap:18px;font-size:13px;color:var(--muted);margin:4px 0 0}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px}
svg{width:100%;height:auto;max-width:820px;display:block}
svg .bar{fill:var(--accent)} svg .bar-excluded{fill:var(--excluded)}
svg .grid{stroke:var(--line)} svg .axis{stroke:#8a94a6}
svg .tick{font-size:11px;fill:var(--muted)} svg .axis-label{font-size:12px;fill:var(--muted)}
svg .marker{stroke:#d97706;stroke-dasharray:4 3;stroke-width:1.5} svg .marker-label{font-size:11px;fill:#b45309;font-weight:600}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}
.thumb{margin:0;background:#0d1117;border-radius:8px;overflow:hidden;border:1px solid var(--line)}
.thumb img{display:block;width:100%;aspect-ratio:1/1;object-fit:cover;background:#222;transition:opacity .15s}
.thumb a:hover img{opacity:.85}
.thumb figcaption{display:flex;justify-content:space-between;gap:8px;padding:6px 8px;background:#fff;font-size:12.5px}
.thumb .file{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.thumb .count{font-weight:600;color:var(--accent)}
.table-scroll{max-height:560px;overflow:auto;border:1px solid var(--line);border-radius:8px}
.table-scroll thead th{position:sticky;top:0;background:#f1f5fa;z-index:1}
th.sortable{cursor:pointer;user-select:none;white-space:nowrap}
th.sortable:hover{color:var(--ink)}
th.sortable::after{content:"\\2195";opacity:.35;margin-left:4px}
th[aria-sort=ascending]::after{content:"\\2191";opacity:1}
th[aria-sort=descending]::after{content:"\\2193";opacity:1}
tr.failed td{color:var(--bad)}
#show-all-rows{margin-top:10px;font:inherit;padding:6px 14px;border:1px solid var(--line);border-radius:6px;background:#fff;cursor:pointer}
#show-all-rows:hover{background:var(--accent-soft)}
.failures td:first-child{white-space:nowrap}
.empty{color:var(--muted);font-style:italic}
dl.methods{display:grid;grid-template-columns:200px 1fr;gap:8px 18px;margin:8px 0}
dl.methods dt{color:var(--muted);font-weight:600}
dl.methods dd{margin:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;background:#eef2f7;padding:1px 5px;border-radius:4px;word-break:break-all}
footer{color:var(--muted);font-size:13px;padding:24px 0 40px}
#lightbox{position:fixed;inset:0;background:rgba(10,14,22,.92);display:none;align-items:center;justify-content:center;flex-direction:column;z-index:10;padding:24px}
#lightbox.open{display:flex}
#lightbox img{height:84vh;width:auto;max-width:96vw;object-fit:contain;box-shadow:0 10px 40px rgba(0,0,0,.5);background:#111}
#lightbox p{color:#e6edf7;margin:12px 0 0;font-size:14px}
#lightbox button{position:absolute;background:rgba(255,255,255,.12);color:#fff;border:0;border-radius:6px;font-size:22px;width:44px;height:44px;cursor:pointer}
#lightbox .close{top:16px;right:16px} #lightbox .prev{left:16px;top:50%} #lightbox .next{right:16px;top:50%}
@media (max-width:700px){dl.methods{grid-template-columns:1fr}}
`;

const SCRIPT = `
(function(){
  var table=document.getElementById('image-table');
  // Large batches: only the first PAGE rows are laid out until the reader asks for all.
  var PAGE=Number(table&&table.getAttribute('data-page'))||Infinity,limited=true;
  var more=document.getElementById('show-all-rows');
  if(more)more.addEventListener('click',function(){limited=false;Array.prototype.forEach.call(table.tBodies[0].rows,function(r){r.hidden=false;});more.remove();});
  if(table){
    var heads=table.querySelectorAll('th.sortable');
    heads.forEach(function(th,col){
      th.addEventListener('click',function(){
        var numeric=th.getAttribute('data-type')==='number';
        var dir=th.getAttribute('aria-sort')==='descending'?'ascending':(th.getAttribute('aria-sort')==='ascending'?'descending':(numeric?'descending':'ascending'));
        heads.forEach(function(h){h.removeAttribute('aria-sort');});
        th.setAttribute('aria-sort',dir);
        var body=table.tBodies[0];
        // Keys read once per row (not per comparison): thousands of rows sort in a blink.
        var keyed=Array.prototype.map.call(body.rows,function(r,i){var v=r.cells[col].getAttribute('data-value');return {r:r,i:i,k:numeric?(v===''||v===null?-Infinity:Number(v)):(v||'')};});
        var sign=dir==='ascending'?1:-1;
        keyed.sort(function(a,b){var c=numeric?a.k-b.k:(a.k<b.k?-1:a.k>b.k?1:0);if(c!==c)c=0;return c?sign*c:a.i-b.i;});
        var frag=document.createDocumentFragment();keyed.forEach(function(e,i){e.r.hidden=limited&&i>=PAGE;frag.appendChild(e.r);});
        body.textContent='';body.appendChild(frag);
      });
    });
  }
  var box=document.getElementById('lightbox');
  var img=box.querySelector('img'),cap=box.querySelector('p');
  var links=Array.prototype.slice.call(document.querySelectorAll('[data-lightbox],[data-lightbox-link]'));
  var current=-1;
  function show(i){if(i<0||i>=links.length)return;current=i;var a=links[i];img.src=a.getAttribute('href');img.alt=a.getAttribute('data-caption')||'';cap.textContent=a.getAttribute('data-caption')||'';box.classList.add('open');}
  function hide(){box.classList.remove('open');img.removeAttribute('src');current=-1;}
  links.forEach(function(a,i){a.addEventListener('click',function(e){e.preventDefault();show(i);});});
  box.addEventListener('click',function(e){if(e.target===box||e.target.classList.contains('close'))hide();});
  box.querySelector('.prev').addEventListener('click',function(e){e.stopPropagation();show(current-1);});
  box.querySelector('.next').addEventListener('click',function(e){e.stopPropagation();show(current+1);});
  document.addEventListener('keydown',function(e){if(current<0)return;if(e.key==='Escape')hide();if(e.key==='ArrowLeft')show(current-1);if(e.key==='ArrowRight')show(current+1);});
})();
`;

function methodsSection(summary: BatchSummary, withReview: boolean): string {
  const models = summary.models.length
    ? summary.models.map((m) => `<code>${esc(m.version)}</code> (${esc(m.layout)} layout, sha256 <code>${esc(m.sha256.slice(0, 16))}\u2026</code>, ${num(m.images)} image${m.images === 1 ? '' : 's'})`).join('<br>')
    : '<span class="muted">no image was processed</span>';
  const thresholds = summary.thresholds.length
    ? summary.thresholds
        .map((t) => {
          const gate = t.size_gate_nm ? `size gate ${num(t.size_gate_nm[0])}\u2013${num(t.size_gate_nm[1])} nm` : 'no size gate';
          return `score \u2265 ${num(t.score, 2)} (from ${esc(scoreSourceWords(t.score_source))}), overlap suppression IoU ${num(t.iou_nms, 2)}, ${gate} \u2014 ${plural(t.images, 'image')}`;
        })
        .join('<br>')
    : '<span class="muted">\u2013</span>';
  // One line per source: a batch of 500 scale-bar images is one line; each image's value is in the table.
  const calibration = summary.calibration.length
    ? scaleGroups(summary)
        .map((g) => `${esc(formatScaleRange(g.minNmPerPx, g.maxNmPerPx).replace('nm/px', 'nm per pixel'))}, ${esc(g.label)}${g.detail ? ` (<code>${esc(g.detail)}</code>)` : ''} \u2014 ${num(g.images)} image${g.images === 1 ? '' : 's'}`)
        .join('<br>')
    : '<span class="muted">\u2013</span>';
  const b = summary.diameter_nm.bootstrap;
  const momentText =
    b.moment_method === 'normal-limit'
      ? "for mean and SD, with this many objects, the bootstrap distribution's normal limit (central limit theorem; delta method for the SD)"
      : 'for mean and SD, by resampling the diameters with replacement';
  return `<dl class="methods">
<dt>Detector</dt><dd>${models}</dd>
<dt>Thresholds</dt><dd>${thresholds}</dd>
<dt>Pixel size</dt><dd>${calibration}. The scale comes, in order, from the batch manifest or command line, the file's own metadata (TIFF, ImageJ, DigitalMicrograph, MRC and vendor tags), the burned-in scale bar (its bar and label are also left out of detection), and only then from the model's training scale, an assumption whose sizes are kept out of the statistics. Images are resampled to the model's training scale before detection; boxes are reported in the original image's pixels and in nanometres.</dd>
<dt>Diameter</dt><dd>Each vesicle gets a box and an outline. Its diameter is the area-equivalent diameter of the outline: that of the circle with the outline's area, \u221a(4 \u00d7 area / \u03c0), in nm. ${outlineSentences(summary).trim()} The CSV also lists the minimum and maximum Feret diameters (narrowest and widest caliper width), roundness (4 \u00d7 area / (\u03c0 \u00d7 maximum Feret\u00b2), 1 for a circle) and the box's \u221a(width \u00d7 height). Boxes are often drawn with a margin (annotators' boxes of the training data), so the box alone reads larger than the vesicle.</dd>
<dt>Which vesicles are sized</dt><dd>The statistics use ${esc(summary.diameter_nm.population)}. Vesicles touching the border may be cut, so their size is only a lower bound; all detections are still counted and listed in the CSV.</dd>
<dt>D10, D50, D90</dt><dd>10%, 50% (the median) and 90% of the sized vesicles are smaller than these diameters (linear interpolation between ranked values).</dd>
<dt>95% intervals</dt><dd>Bootstrap percentile intervals from ${num(b.resamples)} resamples (seed ${b.seed}, so re-running gives the same numbers): exact for the D-values, ${momentText}. They describe the uncertainty from the finite number of vesicles measured, not from calibration or detection errors.</dd>
<dt>Histogram bins</dt><dd>${num(summary.histogram.bin_width, summary.histogram.bin_width % 1 ? 1 : 0)} nm wide (${summary.histogram.rule === 'freedman-diaconis' ? 'Freedman\u2013Diaconis rule, rounded to a round number' : 'default width'}). Grey parts of the bars are detections left out of the statistics.</dd>
${withReview ? `<dt>Review</dt><dd>The review section's figures come from the images you marked as reviewed, by the same rules as above (the size gate, the border, the outline's area-equivalent diameter): a model box counts unless you rejected it or it scores below the threshold you set (and you did not accept it); boxes you drew count, sized as the ellipse inscribed in them, \u221a(width \u00d7 height), since they have no outline; boxes you adjusted count at their new size, their outline stretched with the box (the outline follows its box, drawn thin inside it). The download carries each kept model box's outline (stretched likewise) as its polygon segmentation, which trains the outline of the next model. Its 95% intervals are distribution-free intervals of the quantiles (the order statistics at the binomial's 95% limits), shown from 20 vesicles up, not the bootstrap of the whole-batch column. Your corrections are kept in this browser's storage for this batch; the download is a COCO dataset of the reviewed images, with each image's name in the batch and its nm/px, that <code>exodetect train --annotations</code> trains on.</dd>
` : ''}<dt>Files</dt><dd><code>summary.json</code> (all numbers on this page), <code>detections.csv</code> (one row per vesicle), <code>detections.coco.json</code> and <code>annotations.coco.json</code> (COCO results and dataset, for annotation tools), per-image results in <code>images/</code>, overlays in <code>overlays/</code>${withReview ? ', the plain micrographs the review view draws on in <code>previews/</code>' : ''}.</dd>
</dl>`;
}

export function renderReport(summary: BatchSummary, props: ReportProps = {}): string {
  const galleryLimit = props.galleryLimit ?? 48;
  const withReview = props.review !== undefined;
  const d = summary.diameter_nm;
  const det = summary.detections;
  const processedRows = summary.per_image.filter((r) => r.status === 'ok' && r.overlay);
  const gallery = processedRows.slice(0, galleryLimit);
  const lead =
    summary.images.total === 0
      ? 'This batch had no images with results.'
      : `exodetect found <strong>${num(det.total)}</strong> vesicle${det.total === 1 ? '' : 's'} in <strong>${num(summary.images.processed)}</strong> image${summary.images.processed === 1 ? '' : 's'}` +
        (d.d50
          ? `. Half of the ${num(d.count)} sized vesicles are smaller than <strong>${num(d.d50.value, 1)} nm</strong>${d.d50.ci ? ` (95% confidence interval ${esc(ciText(d.d50))} nm)` : ''}.`
          : '.') +
        (summary.images.failed ? ` ${num(summary.images.failed)} image${summary.images.failed === 1 ? '' : 's'} could not be analysed (listed below).` : '');

  const failures = summary.failures.length
    ? `<table class="failures"><thead><tr><th>Image</th><th>Reason</th><th>Details</th></tr></thead><tbody>${summary.failures
        .map((f) => `<tr><td>${esc(f.file)}</td><td><code>${esc(f.code)}</code></td><td>${esc(f.message)}</td></tr>`)
        .join('')}</tbody></table>`
    : '<p class="empty">Every image was analysed.</p>';

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${esc(`Batch ${summary.batch_id} \u2014 exodetect report`)}</title>
<style>${STYLE}${withReview ? REVIEW_STYLE : ''}</style>
</head>
<body>
<header><div class="wrap">
<h1>Vesicle report: batch <span id="batch-id">${esc(summary.batch_id)}</span></h1>
<p>Generated ${esc(summary.created_at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))} by ${esc(summary.software.name)} ${esc(summary.software.version)}${modelsLine(summary)}</p>
</div></header>
<main class="wrap">
${summary.outcome && !summary.outcome.within_tolerance ? `<p class="banner bad" id="outcome-banner" role="alert"><strong>This batch failed:</strong> ${esc(summary.outcome.reason ?? '')}. The results below cover the images that could be analysed.</p>` : ''}
<div class="cards">
<div class="card"><div class="label">Images analysed</div><div class="value" id="stat-processed">${num(summary.images.processed)}</div><div class="sub">of <span id="stat-images">${num(summary.images.total)}</span> in the batch</div></div>
<div class="card${summary.images.failed ? ' bad' : ''}"><div class="label">Failed images</div><div class="value" id="stat-failed">${num(summary.images.failed)}</div><div class="sub">${summary.images.failed ? 'reasons below' : 'every image was analysed'}</div></div>
<div class="card"><div class="label">Vesicles detected</div><div class="value" id="stat-detections">${num(det.total)}</div><div class="sub"><span id="stat-per-image">${num(det.per_image.mean, 1)}</span> per image on average</div></div>
<div class="card"><div class="label">Median diameter (D50)</div><div class="value"><span id="stat-d50">${num(d.d50?.value, 1)}</span> <small>nm</small></div><div class="sub">95% CI <span id="stat-d50-ci">${esc(ciText(d.d50)) || '\u2013'}</span> nm</div></div>
<div class="card"><div class="label">Mean \u00b1 SD</div><div class="value"><span id="stat-mean">${num(d.mean?.value, 1)}</span> <small>\u00b1 <span id="stat-sd">${num(d.sd?.value, 1)}</span></small></div><div class="sub">nm, <span id="stat-sized">${num(d.count)}</span> vesicles sized</div></div>
<div class="card"><div class="label">Left out of sizing</div><div class="value"><span id="stat-edge-share">${formatPercent(det.share_on_edge)}</span></div><div class="sub">on the image edge; <span id="stat-gate-share">${formatPercent(det.share_out_of_size_range)}</span> outside the size gate</div></div>
</div>
${bundledModelBanner(summary)}
${assumedScaleBanner(summary)}
${scaleWarningBanner(summary)}
<p class="lead" id="lead">${lead}</p>
${summary.notes.length ? `<p class="muted" id="notes">Note: ${summary.notes.map(esc).join(' \u00b7 ')}</p>` : ''}

<section id="distribution">
<h2>Size distribution</h2>
<p class="muted" id="sizing-note">${sizingSentence(summary)}</p>
${renderHistogramSvg(summary)}
<div class="legend"><span><i style="background:var(--accent)"></i>sized vesicles</span><span><i style="background:var(--excluded)"></i>detected, left out of the statistics (on the edge, outside the size gate, or sized at an assumed scale)</span><span><i style="background:#d97706"></i>D10 / D50 / D90</span></div>
<h3>Diameter statistics (nm)</h3>
<table id="diameter-table"><thead><tr><th>Statistic</th><th class="num">Value</th><th class="num">95% CI</th><th>Meaning</th></tr></thead><tbody>
${statRow('Mean', d.mean, 'average diameter')}
${statRow('SD', d.sd, 'spread of diameters around the mean')}
${statRow('D10', d.d10, '10% of vesicles are smaller')}
${statRow('D50', d.d50, 'median: half are smaller')}
${statRow('D90', d.d90, '90% of vesicles are smaller')}
</tbody></table>
</section>

<section id="gallery-section">
<h2>Overlays</h2>
<p class="muted">Each picture shows the detected vesicles drawn on the micrograph (green; orange outside the size range; dashed where cut by the edge), with a key beneath it. Click one to enlarge it (arrow keys move between images, Esc closes). The pictures are the files in <code>overlays/</code> beside this page: copy the whole results folder, not the page alone.${processedRows.length > gallery.length ? ` The first ${num(gallery.length)} of ${num(processedRows.length)} are shown; every image is linked in the table below.` : ''}</p>
${gallery.length ? `<div class="gallery">${gallery.map((row, i) => overlayButton(row, i)).join('')}</div>` : '<p class="empty">No overlays.</p>'}
</section>
${withReview ? renderReviewSection(summary) : ''}
<section id="images-section">
<h2>Per image</h2>
<p class="muted">Click a column heading to sort. Click a file name to see its overlay.</p>
<div class="table-scroll"><table id="image-table" data-page="${TABLE_PAGE}"><thead><tr>
<th class="sortable" data-type="text">Image</th><th class="sortable num" data-type="number">Vesicles</th><th class="sortable num" data-type="number">Sized</th><th class="sortable num" data-type="number">On edge</th><th class="sortable num" data-type="number">Outside gate</th><th class="sortable num" data-type="number">Median nm</th><th class="sortable" data-type="number">nm/px (source)</th>${withReview ? '<th>Review</th>' : ''}
</tr></thead><tbody>
${summary.per_image.map((row, i) => imageRow(row, i, withReview)).join('\n')}
</tbody></table></div>
${summary.per_image.length > TABLE_PAGE ? `<p><button id="show-all-rows" type="button">Show all ${num(summary.per_image.length)} images</button> <span class="muted">(the first ${num(TABLE_PAGE)} of the current order are shown)</span></p>` : ''}
</section>

<section id="failures-section">
<h2>Failed images</h2>
${failures}
</section>

<section id="methods">
<h2>How these numbers were obtained</h2>
${methodsSection(summary, withReview)}
</section>
</main>
<footer class="wrap">Batch <code>${esc(summary.batch_id)}</code> \u00b7 ${esc(summary.software.name)} ${esc(summary.software.version)} \u00b7 summary schema ${esc(summary.schema_version)}</footer>
<div id="lightbox" role="dialog" aria-modal="true" aria-label="Overlay"><button class="close" aria-label="Close">\u00d7</button><button class="prev" aria-label="Previous">\u2039</button><button class="next" aria-label="Next">\u203a</button><img alt=""><p></p></div>
<script>${SCRIPT}</script>
${withReview ? renderReviewView(props.review!) : ''}
</body>
</html>
`;
}
