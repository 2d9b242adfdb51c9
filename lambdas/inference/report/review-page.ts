/**
 * The report's review parts: the "Review and correct" section (progress,
 * counts, the batch score threshold, statistics recomputed from the reviewed
 * boxes beside the model's, the download and the command that trains on it),
 * the review view (one canvas, a virtual image list, a side panel, a help
 * line) and the JSON data block that review-script.ts reads. The view stays
 * hidden and empty until it is opened.
 */
import type { Estimate } from '../statistics.js';
import type { BatchSummary, ImageSummaryRow } from '../summary.js';
import { escapeHtml as esc, formatNumber as num } from './html.js';
import { REVIEW_SCRIPT } from './review-script.js';

/** A dataset name `exodetect train` and `upload-corrections` accept (a-z, 0-9, '-', at most 40), from a batch id. */
export function reviewedDatasetName(batchId: string): string {
  const base =
    batchId
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 31)
      .replace(/-+$/, '') || 'batch';
  return `${base}-reviewed`;
}

export const reviewDownloadName = (batchId: string): string => `${batchId}.reviewed.coco.json`;

/** JSON inside a <script> element: "<" escaped so that no file name can close the element. */
function jsonDataBlock(id: string, json: string): string {
  return `<script type="application/json" id="${id}">${json.replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')}</script>`;
}

function estimateCell(estimate: Estimate | null): string {
  if (!estimate) return '\u2013';
  const ci = estimate.ci ? ` <span class="ci">(${num(estimate.ci[0], 1)}\u2013${num(estimate.ci[1], 1)})</span>` : '';
  return `${num(estimate.value, 1)}${ci}`;
}

function statRow(label: string, name: string, modelBatch: string): string {
  return `<tr><th scope="row">${esc(label)}</th><td class="num">${modelBatch}</td><td class="num" id="review-stat-model-${name}">\u2013</td><td class="num" id="review-stat-reviewed-${name}">\u2013</td></tr>`;
}

const count = (name: string, label: string, swatch: string): string =>
  `<div class="review-count"><span class="value" data-count="${name}">0</span><span class="label"><i class="sw ${swatch}"></i>${esc(label)}</span></div>`;

export function renderReviewSection(summary: BatchSummary): string {
  const d = summary.diameter_nm;
  const file = reviewDownloadName(summary.batch_id);
  const dataset = reviewedDatasetName(summary.batch_id);
  return `<section id="review-section" data-bin-width="${summary.histogram.bin_width}">
<h2>Review and correct</h2>
<p class="muted">Open each image large, reject the boxes that are not vesicles, draw the ones the model missed and drag box edges to fit; mark the image reviewed and go on. Your corrections stay in this browser (also after a reload) and download as an annotation set that trains the next model.</p>
<div id="review-foreign" class="review-banner" hidden><span id="review-foreign-text"></span> <button type="button" id="review-foreign-discard">Discard them</button></div>
<div class="review-actions"><button type="button" id="review-open" class="primary">Review the detections</button> <span data-review-progress class="muted"></span></div>
<div class="review-counts">
${count('accepted', 'accepted', 'kept')}${count('rejected', 'rejected', 'rejected')}${count('added', 'drawn', 'added')}${count('adjusted', 'adjusted', 'kept')}${count('below', 'below the threshold', 'below')}${count('pending', 'not yet reviewed', 'pending')}
</div>
<div class="threshold-row"><label for="review-batch-threshold">Score threshold for the batch</label> <input type="range" id="review-batch-threshold"> <output data-batch-threshold></output> <span data-batch-keeps class="muted"></span> <button type="button" data-batch-threshold-reset hidden>Back to the detector's</button></div>
<p class="muted small">Boxes scoring below the threshold are treated as rejected unless you accept them one by one; each image can have its own threshold in the review view.${summary.thresholds.length ? ` The detector kept nothing below ${num(Math.min(...summary.thresholds.map((t) => t.score)), 2)}, so lower values show nothing more.` : ''}</p>
<h3>Diameters after review <span class="muted small">(on the <span id="review-stats-images">0 reviewed images</span>; nm, 95% intervals in brackets)</span></h3>
<table id="review-stats"><thead><tr><th>Statistic</th><th class="num">Model, whole batch</th><th class="num">Model, reviewed images</th><th class="num">After review</th></tr></thead><tbody>
${statRow('Vesicles sized', 'n', num(d.count))}
${statRow('Mean', 'mean', estimateCell(d.mean))}
${statRow('SD', 'sd', estimateCell(d.sd))}
${statRow('D10', 'd10', estimateCell(d.d10))}
${statRow('D50 (median)', 'd50', estimateCell(d.d50))}
${statRow('D90', 'd90', estimateCell(d.d90))}
</tbody></table>
<div id="review-histogram"></div>
<div class="legend"><span><i style="background:var(--accent)"></i>after review</span><span><i class="line"></i>the model, same images</span></div>
<h3>Download and train</h3>
<p><button type="button" data-download class="primary" disabled>Download reviewed annotations (COCO)</button> <span data-download-note class="muted"></span></p>
<p>Train on them locally, in the folder where the batch was run (the images come from its local store: add <code>--data-dir</code> as the batch had it, or the images folder as the first argument if they are elsewhere):<br><code id="review-train-command">npx exodetect train --annotations ${esc(file)} --name ${esc(dataset)}</code></p>
<p>For a deployed stack, put them with the batch's images under <code>datasets/${esc(dataset)}/</code> for the next training run:<br><code id="review-upload-command">npx exodetect upload-corrections ${esc(file)} --name ${esc(dataset)} --bucket &lt;data bucket&gt;</code></p>
<p class="muted small" id="review-storage-note"></p>
<p class="small"><button type="button" id="review-clear" class="quiet">Clear all corrections of this batch</button></p>
</section>`;
}

/** The per-image table's last cell: opens the review view at that image, and says whether it was reviewed. */
export function reviewTableCell(row: ImageSummaryRow): string {
  return row.status === 'ok' ? `<td><button type="button" class="review-link" data-review-file="${esc(row.file)}">review</button></td>` : '<td></td>';
}

const key = (k: string): string => `<kbd>${esc(k)}</kbd>`;

export function renderReviewView(reviewJson: string): string {
  return `<div id="review" class="review" hidden role="dialog" aria-modal="true" aria-label="Review the detections">
<div class="rv-top">
<button type="button" id="rv-prev" title="Previous image (\u2190)">\u2039</button>
<div class="rv-title"><strong id="rv-file"></strong><span id="rv-meta"></span></div>
<button type="button" id="rv-next" title="Next image (\u2192)">\u203a</button>
<span id="rv-position" class="rv-position"></span>
<span class="rv-spacer"></span>
<label class="rv-check"><input type="checkbox" id="rv-reviewed"> Reviewed</label>
<button type="button" id="rv-accept-image" class="primary" title="Mark reviewed and go to the next image (Enter)">Accept image \u23ce</button>
<button type="button" id="rv-undo" title="Undo (Ctrl+Z)">\u21b6 Undo</button>
<button type="button" id="rv-redo" title="Redo (Ctrl+Shift+Z)">\u21b7 Redo</button>
<button type="button" id="rv-close" title="Back to the report (Esc)">Close \u00d7</button>
</div>
<div class="rv-body">
<aside class="rv-side">
<label class="rv-filter">Show <select id="rv-filter"><option value="all">all images</option><option value="todo">not reviewed</option><option value="reviewed">reviewed</option><option value="edited">edited</option></select></label>
<div class="rv-list" id="rv-list"><div id="rv-list-spacer" class="rv-list-spacer"></div><div id="rv-list-rows"></div><p id="rv-list-empty" class="rv-empty" hidden>No images.</p></div>
</aside>
<div class="rv-stage" id="rv-stage" tabindex="0" aria-label="The image and its boxes">
<canvas id="rv-canvas"></canvas>
<div class="rv-zoom"><button type="button" id="rv-zoom-out" title="Zoom out (\u2212)">\u2212</button><button type="button" id="rv-zoom-fit" title="Fit (F)">Fit</button><button type="button" id="rv-zoom-in" title="Zoom in (+)">+</button></div>
<p id="rv-no-preview" class="rv-note" hidden>These results predate previews: the model's boxes are drawn into this picture, so what you see underneath the boxes is not the plain micrograph.</p>
<p id="rv-toast" class="rv-toast" role="status" hidden></p>
<div id="rv-keys" class="rv-keys" hidden>
<h4>Mouse</h4>
<p>Click a box: reject it (click again: restore). Drag on the image: draw a missing vesicle. Drag a box's edge or corner: adjust it. Wheel: zoom; Space + drag or middle button: move the image.</p>
<h4>Keys</h4>
<dl>
<dt>${key('\u2192')} ${key('\u2190')}</dt><dd>next / previous image</dd>
<dt>${key('Enter')}</dt><dd>accept the image: mark it reviewed (every box not rejected is kept) and go to the next</dd>
<dt>${key('M')}</dt><dd>mark / unmark the image as reviewed</dd>
<dt>${key('Tab')}</dt><dd>select the next box (${key('Shift')} previous)</dd>
<dt>${key('A')}</dt><dd>accept the selected box</dd>
<dt>${key('X')} ${key('Del')}</dt><dd>reject the selected box (delete one you drew)</dd>
<dt>${key('Ctrl')} ${key('Z')}</dt><dd>undo; ${key('Ctrl')} ${key('Shift')} ${key('Z')} or ${key('Ctrl')} ${key('Y')} redo</dd>
<dt>${key('V')}</dt><dd>hide / show the boxes</dd>
<dt>${key('F')} ${key('+')} ${key('\u2212')}</dt><dd>fit, zoom in, zoom out</dd>
<dt>${key('Esc')}</dt><dd>deselect; again: back to the report</dd>
</dl>
</div>
</div>
<aside class="rv-panel">
<h4>This image</h4>
<ul id="rv-image-counts" class="rv-counts"></ul>
<label class="rv-slider" for="rv-image-threshold">Score threshold <output id="rv-image-threshold-value"></output></label>
<input type="range" id="rv-image-threshold">
<p class="rv-small"><span id="rv-image-keeps"></span> <button type="button" id="rv-image-threshold-reset" class="quiet" hidden>use the batch's</button></p>
<h4>Selected box</h4>
<p id="rv-selected-none" class="rv-small">Click a box or press ${key('Tab')}.</p>
<div id="rv-selected" hidden><p id="rv-selected-text" class="rv-small"></p><p><button type="button" id="rv-accept-box">Accept (A)</button> <button type="button" id="rv-reject-box">Reject (X)</button></p></div>
<h4>Batch</h4>
<label class="rv-slider" for="rv-batch-threshold">Score threshold <output data-batch-threshold></output></label>
<input type="range" id="rv-batch-threshold">
<p class="rv-small"><span data-batch-keeps></span> <button type="button" data-batch-threshold-reset class="quiet" hidden>back to the detector's</button></p>
<div class="rv-batch-counts">
<span><b data-count="accepted">0</b> accepted</span><span><b data-count="rejected">0</b> rejected</span><span><b data-count="added">0</b> drawn</span><span><b data-count="adjusted">0</b> adjusted</span>
</div>
<p class="rv-small" data-review-progress></p>
<p><button type="button" data-download class="primary" disabled>Download reviewed (COCO)</button></p>
<p class="rv-small" data-download-note></p>
<h4>Colours</h4>
<ul class="rv-counts rv-legend"><li><i class="sw pending"></i>model, not yet reviewed</li><li><i class="sw kept"></i>accepted</li><li><i class="sw rejected"></i>rejected</li><li><i class="sw below"></i>below the score threshold</li><li><i class="sw added"></i>drawn by you</li></ul>
</aside>
</div>
<div class="rv-help" id="rv-help"><span>Click a box: reject / restore</span><span>Drag on the image: draw</span><span>Drag an edge: adjust</span><span>${key('Enter')} accept image</span><span>${key('A')} / ${key('X')} accept / reject box</span><span>${key('\u2190')} ${key('\u2192')} images</span><span>${key('Ctrl')}+${key('Z')} undo</span><span>wheel zoom, ${key('Space')}+drag move</span><button type="button" id="rv-help-toggle" class="quiet">${key('?')} all keys</button></div>
</div>
${jsonDataBlock('review-data', reviewJson)}
<script>${REVIEW_SCRIPT}</script>`;
}

export const REVIEW_STYLE = `
button.primary{background:var(--accent);color:#fff;border:1px solid var(--accent);border-radius:6px;padding:7px 14px;font:inherit;font-weight:600;cursor:pointer}
button.primary:hover{filter:brightness(1.08)} button.primary:disabled{opacity:.45;cursor:default;filter:none}
button.quiet{background:none;border:0;color:var(--accent);font:inherit;cursor:pointer;padding:0;text-decoration:underline}
#review-section button:not(.primary):not(.quiet){font:inherit;padding:5px 12px;border:1px solid var(--line);border-radius:6px;background:#fff;cursor:pointer}
.small{font-size:13px}
.review-actions{display:flex;align-items:center;gap:14px;margin:14px 0}
.review-banner{background:#fff7e6;border:1px solid #f5c26b;border-radius:8px;padding:10px 14px;margin:10px 0;color:#7a4b00}
.review-counts{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:10px;margin:10px 0 14px}
.review-count{border:1px solid var(--line);border-radius:8px;padding:8px 12px;display:flex;flex-direction:column}
.review-count .value{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums}
.review-count .label{color:var(--muted);font-size:12.5px}
i.sw{display:inline-block;width:12px;height:10px;border:2px solid;border-radius:2px;margin-right:6px;vertical-align:-1px}
i.sw.pending{border-color:#38bdf8} i.sw.kept{border-color:#22c55e} i.sw.rejected{border-color:#ef4444;border-style:dashed} i.sw.below{border-color:#94a3b8;border-style:dotted} i.sw.added{border-color:#eab308}
.threshold-row{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.threshold-row input{width:260px} .threshold-row output{font-weight:650;font-variant-numeric:tabular-nums;min-width:3em}
#review-stats td .ci,#review-stats td .ci{color:var(--muted);font-size:12.5px}
#review-histogram svg{max-width:820px}
svg .model-step{fill:none;stroke:#5a6577;stroke-width:1.5}
.legend i.line{height:0;border-top:2px solid #5a6577;border-radius:0;vertical-align:3px}
.review-link{font:inherit;font-size:13px;background:none;border:0;color:var(--accent);cursor:pointer;padding:0;text-decoration:underline}
.review-link.done{color:#15803d;text-decoration:none;font-weight:600} .review-link.edited{color:#b45309}
kbd{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;border:1px solid #4b5563;border-bottom-width:2px;border-radius:4px;padding:0 4px;background:#1f2937;color:#f3f4f6}
body.review-open{overflow:hidden}
.review{position:fixed;inset:0;z-index:20;background:#0b0f17;color:#e5e9f0;display:grid;grid-template-rows:auto minmax(0,1fr) auto;font-size:14px}
.review[hidden]{display:none}
.review button{font:inherit;color:#e5e9f0;background:#1f2937;border:1px solid #374151;border-radius:6px;padding:5px 11px;cursor:pointer}
.review button:hover:not(:disabled){background:#273449} .review button:disabled{opacity:.4;cursor:default}
.review button.primary{background:#2563a8;border-color:#3b82f6;color:#fff}
.review button.quiet{background:none;border:0;color:#93c5fd;padding:0;text-decoration:underline}
.rv-top{display:flex;align-items:center;gap:8px;padding:8px 12px;background:#111827;border-bottom:1px solid #1f2937;min-width:0}
.rv-top #rv-prev,.rv-top #rv-next{font-size:20px;line-height:1;padding:3px 11px}
.rv-title{display:flex;flex-direction:column;min-width:0;max-width:44vw}
.rv-title strong{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-size:15px}
.rv-title span{color:#9aa5b5;font-size:12.5px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.rv-position{color:#9aa5b5;font-variant-numeric:tabular-nums;white-space:nowrap} .rv-spacer{flex:1}
.rv-check{display:flex;align-items:center;gap:6px;white-space:nowrap;cursor:pointer}
.rv-body{display:grid;grid-template-columns:230px minmax(0,1fr) 290px;min-height:0}
.rv-side{border-right:1px solid #1f2937;display:flex;flex-direction:column;min-height:0;background:#0e131d}
.rv-filter{padding:8px 10px;color:#9aa5b5;font-size:13px;border-bottom:1px solid #1f2937}
.rv-filter select{font:inherit;background:#1f2937;color:#e5e9f0;border:1px solid #374151;border-radius:5px;margin-left:4px}
.rv-list{position:relative;overflow:auto;flex:1;min-height:0}
.rv-list-spacer{width:1px}
.rv-row{position:absolute;left:0;right:0;height:30px;display:flex;align-items:center;gap:6px;padding:0 10px;cursor:pointer;font-size:13px;color:#cbd3df;border-bottom:1px solid #151c28}
.rv-row:hover{background:#172033} .rv-row.current{background:#1e3a5f;color:#fff}
.rv-mark{width:12px;color:#4ade80;font-weight:700} .rv-row.edited .rv-mark{color:#fbbf24}
.rv-name{flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;direction:rtl;text-align:left}
.rv-n{color:#8b95a7;font-variant-numeric:tabular-nums;font-size:12px}
.rv-empty{color:#8b95a7;padding:10px}
.rv-stage{position:relative;min-width:0;min-height:0;overflow:hidden;background:#05070b;outline:none}
.rv-stage canvas{position:absolute;inset:0;width:100%;height:100%;touch-action:none;cursor:crosshair}
.rv-zoom{position:absolute;right:12px;top:12px;display:flex;gap:4px}
.rv-zoom button{background:rgba(17,24,39,.85)}
.rv-note,.rv-toast{position:absolute;left:50%;transform:translateX(-50%);margin:0;padding:7px 14px;border-radius:6px;font-size:13px;max-width:80%}
.rv-note{top:12px;background:rgba(120,80,0,.85)} .rv-toast{bottom:48px;background:rgba(17,24,39,.92);border:1px solid #374151}
.rv-keys{position:absolute;left:50%;top:50%;transform:translate(-50%,-50%);background:rgba(17,24,39,.97);border:1px solid #374151;border-radius:10px;padding:8px 20px 14px;max-width:560px;width:90%;max-height:90%;overflow:auto}
.rv-keys h4{margin:12px 0 4px;color:#93c5fd}
.rv-keys dl{display:grid;grid-template-columns:max-content 1fr;gap:5px 14px;margin:0} .rv-keys dd{margin:0;color:#cbd3df} .rv-keys p{margin:0;color:#cbd3df}
.rv-panel{border-left:1px solid #1f2937;overflow:auto;padding:4px 14px 14px;background:#0e131d}
.rv-panel h4{margin:14px 0 6px;font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:#8b95a7}
.rv-counts{list-style:none;margin:0;padding:0;font-size:13.5px;line-height:1.75}
.rv-legend{font-size:12.5px;line-height:1.6;color:#aab4c3}
.rv-slider{display:flex;justify-content:space-between;font-size:13px;color:#cbd3df;margin-top:8px}
.rv-slider output{font-weight:650;color:#fff;font-variant-numeric:tabular-nums}
.rv-panel input[type=range]{width:100%;accent-color:#3b82f6}
.rv-small{font-size:12.5px;color:#aab4c3;margin:4px 0}
.rv-panel code{background:#1f2937;color:#e5e9f0}
.rv-batch-counts{display:grid;grid-template-columns:1fr 1fr;gap:2px 10px;font-size:13px;color:#cbd3df;margin:6px 0}
.rv-batch-counts b{color:#fff;font-variant-numeric:tabular-nums}
.rv-help{display:flex;flex-wrap:wrap;gap:4px 18px;align-items:center;padding:7px 12px;background:#111827;border-top:1px solid #1f2937;color:#aab4c3;font-size:12.5px}
@media (max-width:980px){.rv-body{grid-template-columns:minmax(0,1fr);grid-template-rows:minmax(0,1fr) auto}.rv-side{display:none}.rv-panel{border-left:0;border-top:1px solid #1f2937;max-height:34vh}.rv-title{max-width:30vw}}
`;
