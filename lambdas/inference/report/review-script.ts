/**
 * The review view's script, inlined into report.html (no network, works from
 * disk). It reads the JSON data block written by review-page.ts and keeps the
 * person's corrections in localStorage under `exodetect.review:<batch id>`.
 *
 * - One canvas draws the open image and its boxes; the image list is a
 *   virtual list (only visible rows exist), so a 500 x 50 batch costs no more
 *   DOM than a 5-image one.
 * - Corrections per image: `decisions` (model box id -> accepted / rejected),
 *   `boxes` (model box id -> adjusted box), `added` (drawn boxes), `reviewed`
 *   and an own score `threshold`; plus one batch threshold. Every change is an
 *   undoable action holding the image's state before and after.
 * - A model box below the image's threshold counts as rejected unless a
 *   person accepts it; on a reviewed image every box not rejected is kept.
 * - The download is a COCO dataset of the reviewed images (file names as in
 *   the batch, nm/px per image) that `exodetect train --annotations` reads.
 * - Outlines follow their box: a model box's outline (kept relative to the box,
 *   review-data.ts) is stretched with the box when a person adjusts it, and
 *   goes into the download as the box's segmentation; a box a person draws has
 *   no outline and is sized as its inscribed ellipse, sqrt(w*h).
 *
 * Plain ES2017 in a String.raw template: no backticks or dollar-brace inside.
 */
export const REVIEW_SCRIPT = String.raw`
(function () {
  'use strict';
  var dataBlock = document.getElementById('review-data');
  var section = document.getElementById('review-section');
  if (!dataBlock || !section) return;
  var DATA = JSON.parse(dataBlock.textContent);
  var IMAGES = DATA.images;
  var N = IMAGES.length;
  var STRIDE = 6;
  var OUTLINE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  var OUTLINE_STEPS = 40;
  var STORE_KEY = 'exodetect.review:' + DATA.batch_id;
  var MIN_BOX_PX = 2;      // the trainer skips smaller boxes (min_box_px)
  var FIT_MARGIN = 16;     // CSS px around the image when it is fitted to the stage
  var EDGE_GRAB = 5;       // CSS px: a press this close to an edge adjusts it
  var CLICK_SLOP = 4;      // CSS px a click may move and still be a click
  var ROW_HEIGHT = 30;
  var HISTORY_LIMIT = 2000;
  var KEPT = { accepted: true, adjusted: true, kept: true, added: true };
  var STATUS_WORDS = { pending: 'not yet reviewed', kept: 'kept (image reviewed)', accepted: 'accepted', adjusted: 'adjusted', added: 'drawn by you', rejected: 'rejected', below: 'below the score threshold' };

  var byFile = new Map();
  IMAGES.forEach(function (im, i) { byFile.set(im.file, i); });
  function $(id) { return document.getElementById(id); }
  function fmt(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return '\u2013';
    return v.toLocaleString('en-US', { minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0 });
  }
  function plural(n, word) { return fmt(n) + ' ' + word + (n === 1 ? '' : /(s|x)$/.test(word) ? 'es' : 's'); }
  function round2(v) { var r = Math.round(v * 100) / 100; return r === 0 ? 0 : r; }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; }); }
  function clone(v) { return v === undefined ? undefined : JSON.parse(JSON.stringify(v)); }

  // ------------------------------------------------------------------ state
  function freshState() {
    return { format: 'exodetect.review-state', version: 1, batch_id: DATA.batch_id, fingerprint: DATA.fingerprint, batch_threshold: null, images: {} };
  }
  function blankImage() { return { reviewed: false, threshold: null, decisions: {}, boxes: {}, added: [] }; }
  var BLANK = blankImage();
  function isBlank(s) {
    return !s.reviewed && s.threshold === null && !Object.keys(s.decisions).length && !Object.keys(s.boxes).length && !s.added.length;
  }
  function hasEdits(s) { return Object.keys(s.decisions).length > 0 || Object.keys(s.boxes).length > 0 || s.added.length > 0; }

  var state = freshState();
  var undoStack = [];
  var redoStack = [];
  var storageProblem = null;   // why the browser does not keep the corrections
  var storageUnavailable = false;
  var foreignSaved = null;     // corrections saved for other detections (an earlier run): kept aside, not applied
  var savedAt = null;

  function review(i) { return state.images[IMAGES[i].file] || BLANK; }

  function loadSaved() {
    var text = null;
    try { text = localStorage.getItem(STORE_KEY); } catch (e) {
      storageUnavailable = true;
      storageProblem = 'This browser does not let the page keep data (' + e.name + '): corrections last only while the page is open. Download them before closing it.';
      return;
    }
    if (!text) return;
    var saved = null;
    try { saved = JSON.parse(text); } catch (e) { saved = null; }
    if (!saved || saved.format !== 'exodetect.review-state' || !saved.images) { foreignSaved = { saved_at: null, unreadable: true }; return; }
    if (saved.fingerprint !== DATA.fingerprint) { foreignSaved = saved; return; }
    state = saved;
    Object.keys(state.images).forEach(function (file) {
      var s = state.images[file];
      if (!byFile.has(file)) { delete state.images[file]; return; }
      state.images[file] = { reviewed: !!s.reviewed, threshold: typeof s.threshold === 'number' ? s.threshold : null, decisions: s.decisions || {}, boxes: s.boxes || {}, added: s.added || [] };
    });
    if (typeof state.batch_threshold !== 'number') state.batch_threshold = null;
    savedAt = saved.saved_at || null;
  }

  function save() {
    if (foreignSaved || storageUnavailable) return;
    try {
      state.saved_at = new Date().toISOString();
      localStorage.setItem(STORE_KEY, JSON.stringify(state));
      savedAt = state.saved_at;
      storageProblem = null;
    } catch (e) {
      storageProblem = 'Could not save in this browser (' + e.name + '): download your corrections now so that they are not lost.';
    }
  }

  function setImage(file, value) {
    if (value === undefined) delete state.images[file]; else state.images[file] = value;
  }
  function record(action) {
    undoStack.push(action);
    if (undoStack.length > HISTORY_LIMIT) undoStack.shift();
    redoStack = [];
  }

  /** Applies mutate to a copy of image i's corrections; records the change for undo. */
  function changeImage(i, mutate) {
    var file = IMAGES[i].file;
    var before = clone(state.images[file]);
    var next = clone(state.images[file]) || blankImage();
    mutate(next);
    var after = isBlank(next) ? undefined : next;
    if (JSON.stringify(before) === JSON.stringify(after)) return false;
    record({ file: file, before: before, after: clone(after) });
    setImage(file, after);
    changed(i);
    return true;
  }

  function undo() { var a = undoStack.pop(); if (a) { redoStack.push(a); applyAction(a, 'before'); } }
  function redo() { var a = redoStack.pop(); if (a) { undoStack.push(a); applyAction(a, 'after'); } }
  function applyAction(a, side) {
    if (a.batch) {
      state.batch_threshold = a[side];
      changed(null);
      return;
    }
    setImage(a.file, clone(a[side]));
    var i = byFile.get(a.file);
    selectedKey = null;
    if (viewerOpen && i !== current) openImage(i);  // show where the change happened
    changed(i);
  }

  function changed(i) {
    save();
    scheduleRefresh(i);
    requestDraw();
  }

  // ------------------------------------------------------- boxes as seen now
  function thresholdOf(i) {
    var r = review(i);
    var t = r.threshold !== null ? r.threshold : state.batch_threshold;
    return t === null ? IMAGES[i].score_threshold : Math.max(t, IMAGES[i].score_threshold);
  }

  /** Every box of image i with its current status. */
  function boxesOf(i) {
    var im = IMAGES[i];
    var r = review(i);
    var t = thresholdOf(i);
    var out = [];
    var n = im.boxes.length / STRIDE;
    for (var k = 0; k < n; k++) {
      var o = k * STRIDE;
      var score = im.boxes[o + 4];
      var adjusted = r.boxes[k];
      var decision = r.decisions[k];
      var status = decision === 'rejected' ? 'rejected' : decision === 'accepted' ? (adjusted ? 'adjusted' : 'accepted') : score < t ? 'below' : r.reviewed ? 'kept' : 'pending';
      out.push({ key: 'm' + k, id: k, kind: 'model', box: adjusted || [im.boxes[o], im.boxes[o + 1], im.boxes[o + 2], im.boxes[o + 3]], outline: im.outlines ? im.outlines[k] : null, score: score, cls: im.boxes[o + 5], status: status });
    }
    r.added.forEach(function (a, j) {
      out.push({ key: 'a' + j, id: j, kind: 'added', box: a.slice(0, 4), outline: null, score: null, cls: a[4] || 0, status: 'added' });
    });
    return out;
  }

  function modelCountAtOrAbove(i, t) {
    var im = IMAGES[i], n = 0;
    for (var o = 4; o < im.boxes.length; o += STRIDE) if (im.boxes[o] >= t) n++;
    return n;
  }

  // Batch scores, sorted once: "what would another threshold keep" is a binary search.
  var allScores = [];
  IMAGES.forEach(function (im) { for (var o = 4; o < im.boxes.length; o += STRIDE) allScores.push(im.boxes[o]); });
  allScores.sort(function (a, b) { return a - b; });
  var minThreshold = IMAGES.reduce(function (m, im) { return Math.min(m, im.score_threshold); }, 1);
  function batchCountAtOrAbove(t) {
    var lo = 0, hi = allScores.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (allScores[mid] < t) lo = mid + 1; else hi = mid; }
    return allScores.length - lo;
  }

  function tally() {
    var t = { accepted: 0, adjusted: 0, kept: 0, rejected: 0, added: 0, below: 0, pending: 0, reviewed: 0, editedNotReviewed: 0, reviewedBoxes: 0 };
    for (var i = 0; i < N; i++) {
      var r = review(i);
      if (r.reviewed) t.reviewed++; else if (hasEdits(r)) t.editedNotReviewed++;
      if (r === BLANK && state.batch_threshold === null) { t.pending += IMAGES[i].boxes.length / STRIDE; continue; }
      boxesOf(i).forEach(function (b) {
        t[b.status]++;
        if (r.reviewed && KEPT[b.status]) t.reviewedBoxes++;
      });
    }
    return t;
  }

  // ------------------------------------------------------------ statistics
  function onEdge(im, box) {
    var m = DATA.edge_margin_px;
    return box[0] <= m || box[1] <= m || box[2] >= im.width - m || box[3] >= im.height - m;
  }
  /** An outline kept relative to its box (review-data.ts), as a polygon on the box it has now. */
  function outlinePolygon(code, box) {
    var cx = (box[0] + box[2]) / 2, cy = (box[1] + box[3]) / 2, hw = (box[2] - box[0]) / 2, hh = (box[3] - box[1]) / 2, out = [];
    for (var k = 0; k < code.length; k++) {
      var t = OUTLINE_ALPHABET.indexOf(code.charAt(k)) / OUTLINE_STEPS, a = 2 * Math.PI * k / code.length;
      out.push(cx + t * hw * Math.cos(a), cy + t * hh * Math.sin(a));
    }
    return out;
  }
  function polygonArea(p) {
    var n = p.length / 2, twice = 0;
    for (var i = 0, j = n - 1; i < n; j = i++) twice += p[2 * j] * p[2 * i + 1] - p[2 * i] * p[2 * j + 1];
    return Math.abs(twice) / 2;
  }
  /** The outline's area-equivalent diameter in px (its box's sqrt(w*h) when it has none: the inscribed ellipse's). */
  function diameterPx(box, outline) {
    if (outline) return Math.sqrt(4 * polygonArea(outlinePolygon(outline, box)) / Math.PI);
    return Math.sqrt(Math.max(0, box[2] - box[0]) * Math.max(0, box[3] - box[1]));
  }
  function sizedDiameter(im, box, outline) {
    var d = diameterPx(box, outline) * im.nm_per_px;
    var gate = im.size_gate_nm;
    if (gate && (d < gate[0] || d > gate[1])) return null;
    if (DATA.exclude_on_edge && onEdge(im, box)) return null;
    return d;
  }
  function reviewedDiameters() {
    var model = [], reviewed = [], images = 0;
    for (var i = 0; i < N; i++) {
      if (!review(i).reviewed) continue;
      images++;
      var im = IMAGES[i];
      for (var o = 0; o < im.boxes.length; o += STRIDE) {
        var d = sizedDiameter(im, im.boxes.slice(o, o + 4), im.outlines ? im.outlines[o / STRIDE] : null);
        if (d !== null) model.push(d);
      }
      boxesOf(i).forEach(function (b) {
        if (!KEPT[b.status]) return;
        var d2 = sizedDiameter(im, b.box, b.outline);
        if (d2 !== null) reviewed.push(d2);
      });
    }
    return { model: model, reviewed: reviewed, images: images };
  }
  function quantile(sorted, p) {   // linear interpolation between ranks, as numpy and summary.json
    var h = (sorted.length - 1) * p, lo = Math.floor(h);
    return lo + 1 >= sorted.length ? sorted[lo] : sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
  }
  /** Distribution-free 95% interval of a quantile: order statistics at the binomial's normal limits. */
  function quantileInterval(sorted, p) {
    var n = sorted.length;
    if (n < 20) return null;
    var half = 1.96 * Math.sqrt(n * p * (1 - p));
    var lo = Math.max(1, Math.floor(n * p - half)), hi = Math.min(n, Math.ceil(n * p + half) + 1);
    return [sorted[lo - 1], sorted[hi - 1]];
  }
  function describe(values) {
    var s = values.slice().sort(function (a, b) { return a - b; });
    var n = s.length;
    if (!n) return { n: 0 };
    var mean = s.reduce(function (a, b) { return a + b; }, 0) / n;
    var ss = s.reduce(function (a, v) { return a + (v - mean) * (v - mean); }, 0);
    return { n: n, mean: mean, sd: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, d10: quantile(s, 0.1), d50: quantile(s, 0.5), d90: quantile(s, 0.9), d10ci: quantileInterval(s, 0.1), d50ci: quantileInterval(s, 0.5), d90ci: quantileInterval(s, 0.9) };
  }
  function statCell(st, name) {
    if (!st.n) return '\u2013';
    if (name === 'n') return fmt(st.n);
    var v = fmt(st[name], 1);
    var ci = st[name + 'ci'];
    return ci ? v + ' <span class="ci">(' + fmt(ci[0], 1) + '\u2013' + fmt(ci[1], 1) + ')</span>' : v;
  }

  var binWidth = Number(section.getAttribute('data-bin-width')) || 10;
  function histogramSvg(model, reviewed) {
    var all = model.concat(reviewed);
    if (!all.length) return '<p class="empty">Mark images as reviewed to compare their diameters here.</p>';
    var bw = binWidth;
    var lo = Math.floor(Math.min.apply(null, all) / bw) * bw;
    var hi = Math.max(lo + bw, Math.ceil(Math.max.apply(null, all) / bw) * bw);
    while ((hi - lo) / bw > 60) { bw *= 2; lo = Math.floor(lo / bw) * bw; hi = Math.ceil(hi / bw) * bw; }
    var bins = Math.max(1, Math.round((hi - lo) / bw));
    function counts(values) { var c = new Array(bins).fill(0); values.forEach(function (v) { c[Math.min(bins - 1, Math.floor((v - lo) / bw))]++; }); return c; }
    var cm = counts(model), cr = counts(reviewed);
    var yMax = Math.max(1, Math.max.apply(null, cm.concat(cr)));
    var W = 760, H = 230, L = 48, R = 12, T = 14, B = 40, pw = W - L - R, ph = H - T - B;
    function sx(v) { return L + (v - lo) / (hi - lo) * pw; }
    function sy(c) { return T + ph - c / yMax * ph; }
    var parts = [];
    [0, 0.5, 1].forEach(function (f) {
      var c = Math.round(yMax * f), y = sy(c).toFixed(1);
      parts.push('<line class="grid" x1="' + L + '" x2="' + (L + pw) + '" y1="' + y + '" y2="' + y + '"/><text class="tick" x="' + (L - 6) + '" y="' + y + '" text-anchor="end" dominant-baseline="middle">' + c + '</text>');
    });
    cr.forEach(function (c, k) {
      if (!c) return;
      var x = sx(lo + k * bw);
      parts.push('<rect class="bar" x="' + x.toFixed(1) + '" y="' + sy(c).toFixed(1) + '" width="' + Math.max(0.5, sx(lo + (k + 1) * bw) - x - 1).toFixed(1) + '" height="' + (sy(0) - sy(c)).toFixed(1) + '"><title>' + fmt(lo + k * bw, 1) + '\u2013' + fmt(lo + (k + 1) * bw, 1) + ' nm: ' + c + ' after review, ' + cm[k] + ' by the model</title></rect>');
    });
    var path = 'M' + sx(lo).toFixed(1) + ' ' + sy(0).toFixed(1);
    cm.forEach(function (c, k) { path += ' L' + sx(lo + k * bw).toFixed(1) + ' ' + sy(c).toFixed(1) + ' L' + sx(lo + (k + 1) * bw).toFixed(1) + ' ' + sy(c).toFixed(1); });
    path += ' L' + sx(hi).toFixed(1) + ' ' + sy(0).toFixed(1);
    parts.push('<path class="model-step" d="' + path + '"/>');
    var every = Math.max(1, Math.ceil(bins / 10));
    for (var k = 0; k <= bins; k += every) parts.push('<text class="tick" x="' + sx(lo + k * bw).toFixed(1) + '" y="' + (T + ph + 16) + '" text-anchor="middle">' + fmt(lo + k * bw, bw % 1 ? 1 : 0) + '</text>');
    parts.push('<line class="axis" x1="' + L + '" x2="' + (L + pw) + '" y1="' + sy(0) + '" y2="' + sy(0) + '"/>');
    parts.push('<text class="axis-label" x="' + (L + pw / 2) + '" y="' + (H - 4) + '" text-anchor="middle">Diameter (nm)</text>');
    return '<svg id="review-histogram-svg" viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="Diameters on the reviewed images: the model\u2019s and after review">' + parts.join('') + '</svg>';
  }

  // ------------------------------------------------------ the COCO download
  function downloadName() { return DATA.batch_id + '.reviewed.coco.json'; }
  function cocoDocument() {
    var images = [], annotations = [], t = tally();
    for (var i = 0; i < N; i++) {
      if (!review(i).reviewed) continue;
      var im = IMAGES[i], imageId = images.length + 1;
      images.push({ id: imageId, file_name: im.file, width: im.width, height: im.height, nm_per_px: im.nm_per_px, nm_per_px_source: im.nm_per_px_source });
      boxesOf(i).forEach(function (b) {
        if (!KEPT[b.status]) return;
        var x1 = round2(b.box[0]), y1 = round2(b.box[1]), w = round2(b.box[2] - x1), h = round2(b.box[3] - y1);
        var attributes = { review: b.status === 'kept' ? 'accepted' : b.status };
        if (b.score !== null) attributes.score = b.score;
        var polygon = b.outline ? outlinePolygon(b.outline, b.box).map(round2) : null;
        annotations.push({ id: annotations.length + 1, image_id: imageId, category_id: b.cls + 1, bbox: [x1, y1, w, h], area: round2(polygon ? polygonArea(polygon) : w * h), iscrowd: 0, segmentation: polygon ? [polygon] : [], attributes: attributes });
      });
    }
    return {
      info: {
        description: 'exodetect detections of batch ' + DATA.batch_id + ', reviewed in report.html',
        batch_id: DATA.batch_id,
        detections_fingerprint: DATA.fingerprint,
        reviewed_at: new Date().toISOString(),
        counts: { images: images.length, boxes: annotations.length, accepted: t.accepted + t.kept + t.adjusted, adjusted: t.adjusted, rejected: t.rejected, below_threshold: t.below, added: t.added }
      },
      licenses: [],
      images: images,
      annotations: annotations,
      categories: DATA.classes.map(function (name, k) { return { id: k + 1, name: name, supercategory: 'vesicle' }; })
    };
  }
  function download() {
    if (!tally().reviewed) return;
    var blob = new Blob([JSON.stringify(cocoDocument(), null, 1) + '\n'], { type: 'application/json' });
    var url = URL.createObjectURL(blob);
    var a = document.createElement('a');
    a.href = url;
    a.download = downloadName();
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
    toast('Downloaded ' + downloadName());
  }

  // --------------------------------------------------- the report's section
  var tableCells = new Map();
  document.querySelectorAll('[data-review-file]').forEach(function (button) {
    tableCells.set(button.getAttribute('data-review-file'), button);
    button.addEventListener('click', function () { var i = byFile.get(button.getAttribute('data-review-file')); if (i !== undefined) openReview(i); });
  });
  function updateTableCell(i) {
    var button = tableCells.get(IMAGES[i].file);
    if (!button) return;
    var r = review(i);
    var text = r.reviewed ? '\u2713 reviewed' : hasEdits(r) ? 'edited' : 'review';
    if (button.textContent !== text) button.textContent = text;
    button.className = 'review-link' + (r.reviewed ? ' done' : hasEdits(r) ? ' edited' : '');
  }

  var batchSliders = [$('review-batch-threshold'), $('rv-batch-threshold')].filter(Boolean);
  batchSliders.forEach(function (s) { s.min = String(Math.floor(minThreshold * 100) / 100); s.max = '1'; s.step = '0.01'; });
  function batchThresholdValue() { return state.batch_threshold === null ? minThreshold : state.batch_threshold; }

  var refreshPending = false;
  var dirtyRows = new Set();
  var dirtyAll = true;
  function scheduleRefresh(i) {
    if (i === null || i === undefined) dirtyAll = true; else dirtyRows.add(i);
    if (refreshPending) return;
    refreshPending = true;
    setTimeout(refresh, 0);
  }

  function refresh() {
    refreshPending = false;
    var t = tally();
    if (dirtyAll) { for (var i = 0; i < N; i++) updateTableCell(i); } else dirtyRows.forEach(updateTableCell);
    dirtyAll = false;
    dirtyRows.clear();
    var accepted = t.accepted + t.kept + t.adjusted;
    document.querySelectorAll('[data-count]').forEach(function (el) {
      var name = el.getAttribute('data-count');
      var value = name === 'accepted' ? accepted : t[name];
      el.textContent = fmt(value);
    });
    var bt = batchThresholdValue();
    batchSliders.forEach(function (s) { if (document.activeElement !== s || !sliderSession) s.value = String(bt); });
    var keeps = batchCountAtOrAbove(bt);
    document.querySelectorAll('[data-batch-threshold]').forEach(function (el) { el.textContent = bt.toFixed(2); });
    document.querySelectorAll('[data-batch-keeps]').forEach(function (el) {
      el.textContent = 'keeps ' + fmt(keeps) + ' of ' + fmt(allScores.length) + ' detections' + (allScores.length ? ' (' + Math.round(100 * keeps / allScores.length) + '%)' : '');
    });
    document.querySelectorAll('[data-batch-threshold-reset]').forEach(function (b) { b.hidden = state.batch_threshold === null; });
    var progress = N ? fmt(t.reviewed) + ' of ' + plural(N, 'image') + ' reviewed' : 'No analysed image to review.';
    document.querySelectorAll('[data-review-progress]').forEach(function (el) { el.textContent = progress; });
    $('review-open').textContent = t.reviewed || t.editedNotReviewed ? 'Continue reviewing' : 'Review the detections';
    $('review-open').disabled = N === 0;
    document.querySelectorAll('[data-download]').forEach(function (b) { b.disabled = t.reviewed === 0; });
    var note = t.reviewed
      ? plural(t.reviewed, 'reviewed image') + ' with ' + plural(t.reviewedBoxes, 'box') + ' go into ' + downloadName() + '.'
      : 'Mark images as reviewed (Enter in the review view) to put them in the download.';
    if (t.editedNotReviewed) note += ' ' + plural(t.editedNotReviewed, 'edited image') + ' not marked as reviewed ' + (t.editedNotReviewed === 1 ? 'is' : 'are') + ' left out.';
    document.querySelectorAll('[data-download-note]').forEach(function (el) { el.textContent = note; });
    refreshStatistics();
    refreshStorageNote();
    if (viewerOpen) { refreshViewerPanel(); renderList(); }
  }

  function refreshStatistics() {
    var d = reviewedDiameters();
    var model = describe(d.model), reviewed = describe(d.reviewed);
    $('review-stats-images').textContent = plural(d.images, 'reviewed image');
    ['n', 'mean', 'sd', 'd10', 'd50', 'd90'].forEach(function (name) {
      $('review-stat-model-' + name).innerHTML = statCell(model, name);
      $('review-stat-reviewed-' + name).innerHTML = statCell(reviewed, name);
    });
    $('review-histogram').innerHTML = histogramSvg(d.model, d.reviewed);
  }

  function refreshStorageNote() {
    var el = $('review-storage-note');
    var banner = $('review-foreign');
    banner.hidden = !foreignSaved;
    if (foreignSaved) {
      $('review-foreign-text').textContent = foreignSaved.unreadable
        ? 'Corrections saved in this browser for batch ' + DATA.batch_id + ' cannot be read. Nothing you change now is saved until you discard them.'
        : 'Corrections saved in this browser' + (foreignSaved.saved_at ? ' on ' + new Date(foreignSaved.saved_at).toLocaleString() : '') + ' were made on other detections of batch ' + DATA.batch_id + ' (an earlier run): they are not shown, and nothing you change now is saved until you discard them.';
    }
    el.classList.toggle('problem', !!storageProblem || !!foreignSaved);
    el.textContent = storageProblem || (foreignSaved ? 'Not saving: see the note above.' : savedAt ? 'Saved in this browser as you go (last at ' + new Date(savedAt).toLocaleTimeString() + '); it stays after a reload.' : 'Corrections are saved in this browser as you make them and stay after a reload.');
  }

  $('review-open').addEventListener('click', function () {
    var first = 0;
    for (var i = 0; i < N; i++) if (!review(i).reviewed) { first = i; break; }
    openReview(first);
  });
  document.querySelectorAll('[data-download]').forEach(function (b) { b.addEventListener('click', download); });
  $('review-clear').addEventListener('click', function () {
    if (!Object.keys(state.images).length && state.batch_threshold === null) return;
    if (!window.confirm('Remove every correction of batch ' + DATA.batch_id + ' from this browser? Download them first if you want to keep them.')) return;
    state = freshState();
    undoStack = [];
    redoStack = [];
    changed(null);
  });
  $('review-foreign-discard').addEventListener('click', function () {
    foreignSaved = null;
    try { localStorage.removeItem(STORE_KEY); } catch (e) { /* reported by save() */ }
    changed(null);
  });
  window.addEventListener('storage', function (e) {
    if (e.key !== STORE_KEY || foreignSaved || !e.newValue) return;
    try { var saved = JSON.parse(e.newValue); if (saved.fingerprint === DATA.fingerprint) { state = saved; undoStack = []; redoStack = []; scheduleRefresh(null); requestDraw(); toast('Updated from another window'); } } catch (err) { /* not ours */ }
  });

  // Slider drags are live; the whole drag is one undoable change.
  var sliderSession = null;
  function sliderInput(kind, value) {
    if (!sliderSession || sliderSession.kind !== kind) {
      sliderSession = { kind: kind, file: kind === 'image' ? IMAGES[current].file : null, before: kind === 'image' ? clone(state.images[IMAGES[current].file]) : state.batch_threshold };
    }
    if (kind === 'batch') state.batch_threshold = value;
    else {
      var s = state.images[sliderSession.file] || blankImage();
      s.threshold = value;
      state.images[sliderSession.file] = s;
    }
    scheduleRefresh(kind === 'batch' ? null : current);
    requestDraw();
  }
  function sliderDone() {
    var s = sliderSession;
    sliderSession = null;
    if (!s) return;
    if (s.kind === 'batch') {
      if (s.before !== state.batch_threshold) record({ batch: true, before: s.before, after: state.batch_threshold });
    } else {
      var after = state.images[s.file];
      if (after && isBlank(after)) { delete state.images[s.file]; after = undefined; }
      if (JSON.stringify(s.before) !== JSON.stringify(after)) record({ file: s.file, before: s.before, after: clone(after) });
    }
    changed(s.kind === 'batch' ? null : byFile.get(s.file));
  }
  batchSliders.forEach(function (s) {
    s.addEventListener('input', function () { sliderInput('batch', Number(s.value)); });
    s.addEventListener('change', sliderDone);
  });
  document.querySelectorAll('[data-batch-threshold-reset]').forEach(function (b) {
    b.addEventListener('click', function () {
      if (state.batch_threshold === null) return;
      record({ batch: true, before: state.batch_threshold, after: null });
      state.batch_threshold = null;
      changed(null);
    });
  });

  // --------------------------------------------------------- review view
  var viewer = $('review');
  var stage = $('rv-stage');
  var canvas = $('rv-canvas');
  var ctx = canvas.getContext('2d');
  var list = $('rv-list');
  var listSpacer = $('rv-list-spacer');
  var viewerOpen = false;
  var current = 0;
  var selectedKey = null;
  var hoverKey = null;
  var hoverGrab = null;    // the edge a press would adjust: drawn highlighted, so that a person sees it first
  var showBoxes = true;
  var spaceDown = false;
  var drag = null;
  var view = { scale: 1, ox: 0, oy: 0, fitted: true };
  var listFilter = 'all';
  var listIndices = IMAGES.map(function (_, i) { return i; });
  var pictures = new Map();   // the few images around the open one

  function picture(i) {
    var im = IMAGES[i];
    var src = im.preview || im.overlay;
    if (!src) return null;
    var p = pictures.get(src);
    if (!p) {
      p = new Image();
      p.decoding = 'async';
      p.onload = function () { if (IMAGES[current] === im) requestDraw(); };
      p.onerror = function () { p.failed = true; if (IMAGES[current] === im) requestDraw(); };
      p.src = src.split('/').map(encodeURIComponent).join('/');
      pictures.set(src, p);
      if (pictures.size > 6) pictures.delete(pictures.keys().next().value);
    }
    return p;
  }

  function openReview(i) {
    $('rv-toast').hidden = true;
    viewer.hidden = false;
    document.body.classList.add('review-open');
    viewerOpen = true;
    resizeCanvas();
    openImage(i);
    stage.focus();
  }
  function closeReview() {
    viewer.hidden = true;
    document.body.classList.remove('review-open');
    viewerOpen = false;
    drag = null;
    scheduleRefresh(null);
  }

  function openImage(i) {
    if (i < 0 || i >= N) return;
    current = i;
    selectedKey = null;
    hoverKey = null;
    hoverGrab = null;
    picture(i);
    if (i + 1 < N) picture(i + 1);
    fit();
    var im = IMAGES[i];
    $('rv-file').textContent = im.file;
    $('rv-meta').textContent = fmt(im.width) + ' \u00d7 ' + fmt(im.height) + ' px \u00b7 ' + Number(im.nm_per_px.toPrecision(4)) + ' nm/px (' + im.nm_per_px_source + ')';
    $('rv-position').textContent = fmt(i + 1) + ' / ' + fmt(N);
    $('rv-no-preview').hidden = !!im.preview;
    refreshViewerPanel();
    renderList(true);
    requestDraw();
  }
  function step(delta) { openImage(Math.max(0, Math.min(N - 1, current + delta))); }

  function acceptImage() {
    changeImage(current, function (s) { s.reviewed = true; });
    if (current + 1 < N) step(1); else toast('That was the last image: download the reviewed annotations from the panel on the right.');
  }

  function refreshViewerPanel() {
    var im = IMAGES[current], r = review(current), boxes = boxesOf(current);
    var c = { pending: 0, kept: 0, accepted: 0, adjusted: 0, added: 0, rejected: 0, below: 0 };
    boxes.forEach(function (b) { c[b.status]++; });
    $('rv-reviewed').checked = r.reviewed;
    $('rv-image-counts').innerHTML =
      '<li><i class="sw kept"></i>' + (c.kept + c.accepted + c.adjusted) + ' accepted' + (c.adjusted ? ' (' + c.adjusted + ' adjusted)' : '') + '</li>' +
      '<li><i class="sw pending"></i>' + c.pending + ' not yet reviewed</li>' +
      '<li><i class="sw rejected"></i>' + c.rejected + ' rejected</li>' +
      '<li><i class="sw below"></i>' + c.below + ' below the threshold</li>' +
      '<li><i class="sw added"></i>' + c.added + ' drawn by you</li>';
    var slider = $('rv-image-threshold');
    slider.min = String(im.score_threshold);
    slider.max = '1';
    slider.step = '0.01';
    var t = thresholdOf(current);
    if (!(sliderSession && sliderSession.kind === 'image')) slider.value = String(t);
    $('rv-image-threshold-value').textContent = t.toFixed(2);
    $('rv-image-keeps').textContent = 'keeps ' + modelCountAtOrAbove(current, t) + ' of ' + plural(im.boxes.length / STRIDE, 'detection') + (r.threshold !== null ? ' (own threshold)' : state.batch_threshold !== null ? ' (batch threshold)' : " (the detector's)");
    $('rv-image-threshold-reset').hidden = r.threshold === null;
    var sel = boxes.find(function (b) { return b.key === selectedKey; });
    $('rv-selected').hidden = !sel;
    $('rv-selected-none').hidden = !!sel;
    if (sel) {
      var w = sel.box[2] - sel.box[0], h = sel.box[3] - sel.box[1];
      $('rv-selected-text').innerHTML =
        '<b>' + (sel.kind === 'model' ? 'Model box ' + (sel.id + 1) + ', score ' + sel.score.toFixed(2) : 'Your box ' + (sel.id + 1)) + '</b><br>' +
        fmt(Math.sqrt(w * h) * im.nm_per_px, 1) + ' nm (' + fmt(w, 1) + ' \u00d7 ' + fmt(h, 1) + ' px)' + (onEdge(im, sel.box) ? ', on the edge' : '') + '<br>' + STATUS_WORDS[sel.status];
      $('rv-accept-box').disabled = sel.kind !== 'model' || sel.status === 'accepted' || sel.status === 'adjusted';
      $('rv-reject-box').textContent = sel.kind === 'added' ? 'Delete (X)' : 'Reject (X)';
      $('rv-reject-box').disabled = sel.status === 'rejected';
    }
    $('rv-undo').disabled = !undoStack.length;
    $('rv-redo').disabled = !redoStack.length;
  }

  // Virtual list: rows exist only for the visible part.
  function filterList() {
    listIndices = [];
    for (var i = 0; i < N; i++) {
      var r = review(i);
      if (listFilter === 'todo' && r.reviewed) continue;
      if (listFilter === 'reviewed' && !r.reviewed) continue;
      if (listFilter === 'edited' && !hasEdits(r)) continue;
      listIndices.push(i);
    }
    listSpacer.style.height = listIndices.length * ROW_HEIGHT + 'px';
  }
  function renderList(scrollToCurrent) {
    filterList();
    if (scrollToCurrent) {
      var at = listIndices.indexOf(current);
      if (at >= 0 && (at * ROW_HEIGHT < list.scrollTop || (at + 1) * ROW_HEIGHT > list.scrollTop + list.clientHeight)) {
        list.scrollTop = Math.max(0, at * ROW_HEIGHT - list.clientHeight / 2);
      }
    }
    var first = Math.max(0, Math.floor(list.scrollTop / ROW_HEIGHT) - 4);
    var last = Math.min(listIndices.length, first + Math.ceil(list.clientHeight / ROW_HEIGHT) + 8);
    var html = '';
    for (var k = first; k < last; k++) {
      var i = listIndices[k], r = review(i), im = IMAGES[i];
      var mark = r.reviewed ? '\u2713' : hasEdits(r) ? '\u25cf' : '';
      var cls = 'rv-row' + (i === current ? ' current' : '') + (r.reviewed ? ' reviewed' : hasEdits(r) ? ' edited' : '');
      html += '<div class="' + cls + '" data-i="' + i + '" style="top:' + k * ROW_HEIGHT + 'px" title="' + esc(im.file) + '"><span class="rv-mark">' + mark + '</span><span class="rv-name"><bdi>' + esc(im.file) + '</bdi></span><span class="rv-n">' + im.boxes.length / STRIDE + '</span></div>';
    }
    listRows.innerHTML = html;
    $('rv-list-empty').hidden = listIndices.length > 0;
  }
  var listRows = $('rv-list-rows');
  list.addEventListener('scroll', function () { renderList(false); });
  listRows.addEventListener('click', function (e) {
    var row = e.target.closest('.rv-row');
    if (row) openImage(Number(row.getAttribute('data-i')));
  });
  $('rv-filter').addEventListener('change', function (e) { listFilter = e.target.value; list.scrollTop = 0; renderList(true); });

  // ------------------------------------------------------------- drawing
  var drawPending = false;
  function requestDraw() {
    if (!viewerOpen || drawPending) return;
    drawPending = true;
    requestAnimationFrame(function () { drawPending = false; draw(); });
  }
  function resizeCanvas() {
    var dpr = window.devicePixelRatio || 1;
    var w = stage.clientWidth, h = stage.clientHeight;
    canvas.width = Math.max(1, Math.round(w * dpr));
    canvas.height = Math.max(1, Math.round(h * dpr));
    if (view.fitted) fit();
    requestDraw();
  }
  if (window.ResizeObserver) new ResizeObserver(function () { if (viewerOpen) resizeCanvas(); }).observe(stage);

  function fit() {
    var im = IMAGES[current];
    if (!im) return;
    var cw = stage.clientWidth, ch = stage.clientHeight;
    var s = Math.max(0.01, Math.min((cw - 2 * FIT_MARGIN) / im.width, (ch - 2 * FIT_MARGIN) / im.height));
    view = { scale: s, ox: (cw - im.width * s) / 2, oy: (ch - im.height * s) / 2, fitted: true };
    requestDraw();
  }
  function zoomAt(factor, px, py) {
    var im = IMAGES[current];
    var fitScale = Math.min((stage.clientWidth - 2 * FIT_MARGIN) / im.width, (stage.clientHeight - 2 * FIT_MARGIN) / im.height);
    var s = Math.max(fitScale * 0.5, Math.min(Math.max(fitScale * 40, 16), view.scale * factor));
    view = { scale: s, ox: px - (px - view.ox) * s / view.scale, oy: py - (py - view.oy) * s / view.scale, fitted: false };
    requestDraw();
  }
  function toScreen(box) { return { x1: view.ox + box[0] * view.scale, y1: view.oy + box[1] * view.scale, x2: view.ox + box[2] * view.scale, y2: view.oy + box[3] * view.scale }; }
  function toImage(p) { return { x: (p.x - view.ox) / view.scale, y: (p.y - view.oy) / view.scale }; }

  var COLOURS = { pending: '#38bdf8', kept: '#4ade80', accepted: '#4ade80', adjusted: '#4ade80', added: '#facc15', rejected: '#f87171', below: '#94a3b8' };

  function draw() {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.width / dpr, h = canvas.height / dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#05070b';
    ctx.fillRect(0, 0, w, h);
    var im = IMAGES[current];
    var p = picture(current);
    if (p && p.complete && p.naturalWidth) {
      ctx.imageSmoothingEnabled = view.scale * im.width / p.naturalWidth < 3;
      ctx.drawImage(p, view.ox, view.oy, im.width * view.scale, im.height * view.scale);
    } else {
      ctx.fillStyle = '#1b2230';
      ctx.fillRect(view.ox, view.oy, im.width * view.scale, im.height * view.scale);
      ctx.fillStyle = '#8b95a7';
      ctx.font = '14px system-ui, sans-serif';
      ctx.textAlign = 'center';
      ctx.fillText(p && p.failed ? 'The picture of this image is missing: copy the previews/ folder beside report.html.' : 'Loading\u2026', w / 2, h / 2);
      ctx.textAlign = 'start';
    }
    if (showBoxes) {
      var boxes = boxesOf(current);
      if (drag && drag.mode === 'resize') boxes = boxes.map(function (b) { return b.key === drag.key ? Object.assign({}, b, { box: drag.box }) : b; });
      var order = { below: 0, rejected: 1, pending: 2, kept: 3, accepted: 3, adjusted: 3, added: 4 };
      boxes.sort(function (a, b) { return order[a.status] - order[b.status]; });
      boxes.forEach(function (b) { drawBox(b, b.key === selectedKey, b.key === hoverKey); });
    }
    if (drag && drag.mode === 'draw') {
      var a = drag.start, e = drag.end;
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = COLOURS.added;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(Math.min(a.x, e.x), Math.min(a.y, e.y), Math.abs(e.x - a.x), Math.abs(e.y - a.y));
      ctx.setLineDash([]);
    }
    drawScaleBar(w, h);
  }

  function drawBox(b, selected, hovered) {
    var r = toScreen(b.box);
    var x = r.x1, y = r.y1, bw = r.x2 - r.x1, bh = r.y2 - r.y1;
    var colour = COLOURS[b.status];
    ctx.save();
    ctx.globalAlpha = b.status === 'below' ? 0.55 : 1;
    if (selected) {
      ctx.strokeStyle = 'rgba(255,255,255,0.9)';
      ctx.lineWidth = 4.5;
      ctx.strokeRect(x, y, bw, bh);
    }
    ctx.strokeStyle = colour;
    ctx.lineWidth = (b.status === 'below' ? 1 : 1.75) + (hovered || selected ? 1 : 0);
    ctx.setLineDash(b.status === 'rejected' ? [5, 3] : b.status === 'below' ? [2, 3] : []);
    ctx.strokeRect(x, y, bw, bh);
    ctx.setLineDash([]);
    if (b.outline && b.status !== 'rejected' && b.status !== 'below') {
      // The outline the diameter comes from, thinner, inside its box (it follows the box when adjusted).
      var poly = outlinePolygon(b.outline, b.box);
      ctx.globalAlpha = 0.8;
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (var v = 0; v < poly.length; v += 2) {
        var q = toScreen([poly[v], poly[v + 1], poly[v], poly[v + 1]]);
        if (v === 0) ctx.moveTo(q.x1, q.y1); else ctx.lineTo(q.x1, q.y1);
      }
      ctx.closePath();
      ctx.stroke();
      ctx.globalAlpha = 1;
    }
    if (b.status === 'rejected') {
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(x, y); ctx.lineTo(x + bw, y + bh);
      ctx.moveTo(x + bw, y); ctx.lineTo(x, y + bh);
      ctx.stroke();
    }
    if (b.status === 'adjusted' || b.status === 'added') {
      ctx.fillStyle = colour;
      ctx.fillRect(x - 2, y - 2, 4, 4);
    }
    if (hoverGrab && hoverGrab.key === b.key && !drag) {
      var h = hoverGrab.handle;
      ctx.strokeStyle = '#fff';
      ctx.lineWidth = 3;
      ctx.beginPath();
      if (h.indexOf('n') >= 0) { ctx.moveTo(x, y); ctx.lineTo(x + bw, y); }
      if (h.indexOf('s') >= 0) { ctx.moveTo(x, y + bh); ctx.lineTo(x + bw, y + bh); }
      if (h.indexOf('w') >= 0) { ctx.moveTo(x, y); ctx.lineTo(x, y + bh); }
      if (h.indexOf('e') >= 0) { ctx.moveTo(x + bw, y); ctx.lineTo(x + bw, y + bh); }
      ctx.stroke();
    }
    if (selected && b.status !== 'rejected' && b.status !== 'below') {
      ctx.fillStyle = '#fff';
      [[x, y], [x + bw / 2, y], [x + bw, y], [x, y + bh / 2], [x + bw, y + bh / 2], [x, y + bh], [x + bw / 2, y + bh], [x + bw, y + bh]].forEach(function (q) {
        ctx.fillRect(q[0] - 3, q[1] - 3, 6, 6);
      });
    }
    ctx.restore();
  }

  function drawScaleBar(w, h) {
    var im = IMAGES[current];
    var nmPerCss = im.nm_per_px / view.scale;
    var target = Math.min(w, im.width * view.scale) / 5 * nmPerCss;
    var mag = Math.pow(10, Math.floor(Math.log10(target)));
    var nm = [1, 2, 5, 10].map(function (m) { return m * mag; }).reduce(function (best, v) { return Math.abs(v - target) < Math.abs(best - target) ? v : best; }, mag);
    var len = nm / nmPerCss;
    var x = 16, y = h - 18;
    ctx.fillStyle = 'rgba(0,0,0,0.55)';
    ctx.fillRect(x - 8, y - 24, len + 16, 34);
    ctx.fillStyle = '#fff';
    ctx.fillRect(x, y, len, 4);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText(nm >= 1000 ? nm / 1000 + ' \u00b5m' : nm + ' nm', x + len / 2, y - 8);
    ctx.textAlign = 'start';
  }

  // ----------------------------------------------------------- pointer
  function local(e) { var rect = canvas.getBoundingClientRect(); return { x: e.clientX - rect.left, y: e.clientY - rect.top }; }
  function editable(b) { return b.status !== 'rejected' && b.status !== 'below'; }
  /** Which edge (n, s, e, w or a corner) of an editable box is under p, preferring the selected box. */
  function grabAt(p) {
    var best = null;
    boxesOf(current).forEach(function (b) {
      if (!editable(b)) return;
      var r = toScreen(b.box);
      var tx = Math.min(EDGE_GRAB, (r.x2 - r.x1) / 4), ty = Math.min(EDGE_GRAB, (r.y2 - r.y1) / 4);
      var tol = Math.max(tx, ty);
      if (p.x < r.x1 - tol || p.x > r.x2 + tol || p.y < r.y1 - tol || p.y > r.y2 + tol) return;
      var dn = Math.abs(p.y - r.y1), ds = Math.abs(p.y - r.y2), dw = Math.abs(p.x - r.x1), de = Math.abs(p.x - r.x2);
      var handle = '';
      if (Math.min(dn, ds) <= ty) handle += dn <= ds ? 'n' : 's';
      if (Math.min(dw, de) <= tx) handle += dw <= de ? 'w' : 'e';
      if (!handle) return;
      var dist = Math.min(dn, ds, dw, de) - (b.key === selectedKey ? 100 : 0);
      if (!best || dist < best.dist) best = { box: b, handle: handle, dist: dist };
    });
    return best;
  }
  /** The smallest box containing p (rejected and below-threshold ones too: a click brings them back). */
  function boxAt(p) {
    var q = toImage(p), best = null, bestArea = Infinity;
    boxesOf(current).forEach(function (b) {
      if (q.x < b.box[0] || q.x > b.box[2] || q.y < b.box[1] || q.y > b.box[3]) return;
      var area = (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]);
      if (area < bestArea) { best = b; bestArea = area; }
    });
    return best;
  }
  var CURSORS = { n: 'ns-resize', s: 'ns-resize', e: 'ew-resize', w: 'ew-resize', nw: 'nwse-resize', se: 'nwse-resize', ne: 'nesw-resize', sw: 'nesw-resize' };

  canvas.addEventListener('pointerdown', function (e) {
    if (e.button === 2) return;
    stage.focus();
    canvas.setPointerCapture(e.pointerId);
    var p = local(e);
    if (e.button === 1 || spaceDown || !showBoxes) {
      drag = { mode: 'pan', start: p, ox: view.ox, oy: view.oy };
      canvas.style.cursor = 'grabbing';
      if (!showBoxes && e.button === 0 && !spaceDown) toast('Boxes are hidden (V shows them): dragging moves the image.');
      return;
    }
    var grab = grabAt(p);
    if (grab) {
      selectedKey = grab.box.key;
      drag = { mode: 'resize', key: grab.box.key, target: grab.box, handle: grab.handle, from: grab.box.box.slice(), box: grab.box.box.slice(), start: p, moved: false };
      refreshViewerPanel();
      requestDraw();
      return;
    }
    drag = { mode: 'press', start: p, hit: boxAt(p) };
  });

  canvas.addEventListener('pointermove', function (e) {
    var p = local(e);
    if (!drag) {
      var grab = showBoxes && !spaceDown ? grabAt(p) : null;
      var hit = grab ? grab.box : showBoxes && !spaceDown ? boxAt(p) : null;
      canvas.style.cursor = spaceDown ? 'grab' : grab ? CURSORS[grab.handle] : hit ? 'pointer' : 'crosshair';
      var key = hit ? hit.key : null;
      var grabbed = grab ? grab.box.key + ':' + grab.handle : null;
      if (key !== hoverKey || grabbed !== (hoverGrab && hoverGrab.id)) {
        hoverKey = key;
        hoverGrab = grab ? { id: grabbed, key: grab.box.key, handle: grab.handle } : null;
        requestDraw();
      }
      return;
    }
    if (drag.mode === 'pan') {
      view = { scale: view.scale, ox: drag.ox + p.x - drag.start.x, oy: drag.oy + p.y - drag.start.y, fitted: false };
    } else if (drag.mode === 'resize') {
      var im = IMAGES[current];
      var dx = (p.x - drag.start.x) / view.scale, dy = (p.y - drag.start.y) / view.scale;
      var b = drag.from.slice();
      if (drag.handle.indexOf('w') >= 0) b[0] = Math.max(0, Math.min(im.width, b[0] + dx));
      if (drag.handle.indexOf('e') >= 0) b[2] = Math.max(0, Math.min(im.width, b[2] + dx));
      if (drag.handle.indexOf('n') >= 0) b[1] = Math.max(0, Math.min(im.height, b[1] + dy));
      if (drag.handle.indexOf('s') >= 0) b[3] = Math.max(0, Math.min(im.height, b[3] + dy));
      drag.box = b;
      drag.moved = drag.moved || Math.abs(p.x - drag.start.x) + Math.abs(p.y - drag.start.y) > 0;
    } else if (drag.mode === 'press') {
      if (Math.abs(p.x - drag.start.x) > CLICK_SLOP || Math.abs(p.y - drag.start.y) > CLICK_SLOP) drag = { mode: 'draw', start: drag.start, end: p };
    } else if (drag.mode === 'draw') {
      drag.end = p;
    }
    requestDraw();
  });

  function endDrag(e) {
    if (!drag) return;
    var d = drag;
    drag = null;
    canvas.style.cursor = 'crosshair';
    if (d.mode === 'resize' && d.moved) commitResize(d);
    else if (d.mode === 'press') clickBox(d.hit);
    else if (d.mode === 'draw') commitDraw(d.start, local(e));
    refreshViewerPanel();
    requestDraw();
  }
  canvas.addEventListener('pointerup', endDrag);
  canvas.addEventListener('pointercancel', function () { drag = null; requestDraw(); });
  canvas.addEventListener('pointerleave', function () { if (!drag && (hoverKey !== null || hoverGrab)) { hoverKey = null; hoverGrab = null; requestDraw(); } });
  canvas.addEventListener('contextmenu', function (e) { e.preventDefault(); });
  canvas.addEventListener('wheel', function (e) {
    e.preventDefault();
    var p = local(e);
    zoomAt(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), p.x, p.y);
  }, { passive: false });

  function normalised(b) {
    return [Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.max(b[0], b[2]), Math.max(b[1], b[3])];
  }
  function commitResize(d) {
    var box = normalised(d.box);
    if (box[2] - box[0] < MIN_BOX_PX || box[3] - box[1] < MIN_BOX_PX) { toast('Too small: a box needs at least ' + MIN_BOX_PX + ' px each way.'); return; }
    var target = d.target;
    changeImage(current, function (s) {
      if (target.kind === 'model') { s.boxes[target.id] = box; s.decisions[target.id] = 'accepted'; }
      else s.added[target.id] = box.concat([target.cls]);
    });
  }
  function commitDraw(a, e) {
    var im = IMAGES[current];
    var p = toImage(a), q = toImage(e);
    var box = normalised([p.x, p.y, q.x, q.y]).map(function (v, k) { return Math.max(0, Math.min(k % 2 ? im.height : im.width, v)); });
    if (box[2] - box[0] < MIN_BOX_PX || box[3] - box[1] < MIN_BOX_PX) { toast('Too small: a box needs at least ' + MIN_BOX_PX + ' px each way.'); return; }
    var index = review(current).added.length;
    changeImage(current, function (s) { s.added.push(box.concat([0])); });
    selectedKey = 'a' + index;
  }
  function clickBox(b) {
    if (!b) { selectedKey = null; return; }
    selectedKey = b.key;
    if (b.kind !== 'model') return;
    changeImage(current, function (s) {
      if (b.status === 'rejected') {
        delete s.decisions[b.id];
        if (b.score < thresholdOf(current)) s.decisions[b.id] = 'accepted';
      } else if (b.status === 'below') s.decisions[b.id] = 'accepted';
      else s.decisions[b.id] = 'rejected';
    });
  }
  function selected() { var key = selectedKey; return boxesOf(current).find(function (b) { return b.key === key; }); }
  function acceptSelected() {
    var b = selected();
    if (b && b.kind === 'model') changeImage(current, function (s) { s.decisions[b.id] = 'accepted'; });
  }
  function rejectSelected() {
    var b = selected();
    if (!b) return;
    if (b.kind === 'added') { selectedKey = null; changeImage(current, function (s) { s.added.splice(b.id, 1); }); }
    else changeImage(current, function (s) { s.decisions[b.id] = 'rejected'; });
  }
  function cycleSelection(delta) {
    var boxes = boxesOf(current);
    if (!boxes.length) return;
    var at = boxes.findIndex(function (b) { return b.key === selectedKey; });
    selectedKey = boxes[(at + delta + boxes.length) % boxes.length].key;
    if (at < 0 && delta < 0) selectedKey = boxes[boxes.length - 1].key;
    refreshViewerPanel();
    requestDraw();
  }

  // ----------------------------------------------------------- keyboard
  var helpBox = $('rv-keys');
  document.addEventListener('keydown', function (e) {
    if (!viewerOpen) return;
    var target = e.target;
    var onSlider = target && target.tagName === 'INPUT' && target.type === 'range';
    var onField = target && (target.tagName === 'SELECT' || (target.tagName === 'INPUT' && target.type !== 'range' && target.type !== 'checkbox'));
    if (onField) return;
    var mod = e.ctrlKey || e.metaKey;
    var key = e.key;
    // A focused button takes Enter and Space itself; Tab moves focus unless the image has it.
    if (target && target.tagName === 'BUTTON' && (key === 'Enter' || key === ' ')) return;
    if (key === 'Tab' && target !== stage && target !== document.body) return;
    var handled = true;
    if (mod && (key === 'z' || key === 'Z')) { if (e.shiftKey) redo(); else undo(); }
    else if (mod && (key === 'y' || key === 'Y')) redo();
    else if (mod || e.altKey) handled = false;
    else if ((key === 'ArrowRight' || key === 'ArrowLeft') && onSlider) handled = false;
    else if (key === 'ArrowRight' || key === 'PageDown' || key === 'n') step(1);
    else if (key === 'ArrowLeft' || key === 'PageUp' || key === 'p') step(-1);
    else if (key === 'Enter') acceptImage();
    else if (key === 'a' || key === 'A') acceptSelected();
    else if (key === 'x' || key === 'X' || key === 'Delete' || key === 'Backspace') rejectSelected();
    else if (key === 'Tab') cycleSelection(e.shiftKey ? -1 : 1);
    else if (key === 'm' || key === 'M') changeImage(current, function (s) { s.reviewed = !s.reviewed; });
    else if (key === 'v' || key === 'V') { showBoxes = !showBoxes; toast(showBoxes ? 'Boxes shown' : 'Boxes hidden (V shows them again)'); requestDraw(); }
    else if (key === 'f' || key === 'F' || key === '0') fit();
    else if (key === '+' || key === '=') zoomAt(1.25, stage.clientWidth / 2, stage.clientHeight / 2);
    else if (key === '-' || key === '_') zoomAt(0.8, stage.clientWidth / 2, stage.clientHeight / 2);
    else if (key === '?' || key === 'h' || key === 'H') helpBox.hidden = !helpBox.hidden;
    else if (key === ' ') { spaceDown = true; canvas.style.cursor = 'grab'; }
    else if (key === 'Escape') {
      if (!helpBox.hidden) helpBox.hidden = true;
      else if (selectedKey !== null) { selectedKey = null; refreshViewerPanel(); requestDraw(); }
      else closeReview();
    } else handled = false;
    if (handled) e.preventDefault();
  });
  document.addEventListener('keyup', function (e) { if (e.key === ' ') { spaceDown = false; if (!drag) canvas.style.cursor = 'crosshair'; } });

  // ------------------------------------------------------------ buttons
  function button(id, action) {
    $(id).addEventListener('click', function () { action(); stage.focus(); });
  }
  button('rv-prev', function () { step(-1); });
  button('rv-next', function () { step(1); });
  button('rv-accept-image', acceptImage);
  button('rv-undo', undo);
  button('rv-redo', redo);
  button('rv-close', closeReview);
  button('rv-zoom-in', function () { zoomAt(1.25, stage.clientWidth / 2, stage.clientHeight / 2); });
  button('rv-zoom-out', function () { zoomAt(0.8, stage.clientWidth / 2, stage.clientHeight / 2); });
  button('rv-zoom-fit', fit);
  button('rv-accept-box', acceptSelected);
  button('rv-reject-box', rejectSelected);
  button('rv-help-toggle', function () { helpBox.hidden = !helpBox.hidden; });
  $('rv-reviewed').addEventListener('change', function (e) { var on = e.target.checked; changeImage(current, function (s) { s.reviewed = on; }); stage.focus(); });
  var imageSlider = $('rv-image-threshold');
  imageSlider.addEventListener('input', function () { sliderInput('image', Number(imageSlider.value)); });
  imageSlider.addEventListener('change', sliderDone);
  button('rv-image-threshold-reset', function () { changeImage(current, function (s) { s.threshold = null; }); });

  var toastTimer = null;
  function toast(text) {
    var el = $('rv-toast');
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, 3500);
  }

  loadSaved();
  scheduleRefresh(null);
})();
`;
