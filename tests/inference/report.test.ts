import { describe, expect, it } from 'vitest';
import { escapeHtml, relativeUrl } from '../../lambdas/inference/report/html.js';
import { renderReport } from '../../lambdas/inference/report/report.js';
import { BatchSummaryBuilder } from '../../lambdas/inference/summary.js';
import { generateErrorRecord, generateImageResult } from './batch-generator.js';

describe('report page (HTML)', () => {
  it('escapes text and encodes overlay URLs', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(relativeUrl('overlays/grid 1/a#b?.tif.jpg')).toBe('overlays/grid%201/a%23b%3F.tif.jpg');
  });

  it('lays out only the first 500 table rows of a large batch, behind a "show all" button', () => {
    const builder = new BatchSummaryBuilder({ batchId: 'big' });
    for (let i = 0; i < 620; i++) builder.add(generateImageResult({ batchId: 'big', file: `img-${i}.tif`, detections: 2, seed: i }));
    builder.add(generateErrorRecord('big', 'bad.tif', 'TRUNCATED', 'short'));
    const html = renderReport(builder.build(), { galleryLimit: 12 });
    const rows = html.match(/<tr[ >][^]*?<\/tr>/g)!.filter((r) => r.includes('data-value'));
    expect(rows).toHaveLength(621);
    expect(rows.filter((r) => /^<tr( class="failed")? hidden>/.test(r))).toHaveLength(121);
    expect(html).toContain('Show all 621 images');
    expect(html.match(/<figure class="thumb">/g)).toHaveLength(12);
    expect(html).toContain('The first 12 of 620 are shown');
  });

  it('warns at the top when the bundled model (never trained on a real micrograph) did the counting', () => {
    const builder = new BatchSummaryBuilder({ batchId: 'mixed-models' });
    builder.add(generateImageResult({ batchId: 'mixed-models', file: 'a.tif', detections: 5, seed: 1 }));
    const generated = generateImageResult({ batchId: 'mixed-models', file: 'b.tif', detections: 5, seed: 2 });
    const trained = { ...generated, model: { ...generated.model, key: 'models/v7/model.onnx', version: 'v7' } };
    builder.add(trained);
    const html = renderReport(builder.build());
    const banner = /<div class="banner warn" id="bundled-model-banner"[^]*?<\/div>/.exec(html)?.[0] ?? '';
    expect(banner).toContain('The counts of 1 of 2 images come from the bundled default model</strong>, which was trained on synthetic micrographs only');
    expect(html.indexOf('bundled-model-banner')).toBeLessThan(html.indexOf('id="distribution"'));
    // The header names the models that counted.
    expect(html).toContain('<span id="counted-by">\u00b7 counted by the bundled default model (1 image), model <code>v7</code> (1 image)</span>');
    const onlyTrained = new BatchSummaryBuilder({ batchId: 'trained' });
    onlyTrained.add({ ...trained, batch_id: 'trained' });
    expect(renderReport(onlyTrained.build())).not.toContain('bundled-model-banner');
  });

  it('puts a banner at the top and flags the rows when images were sized at an assumed scale', () => {
    const calibrated = renderReport(
      (() => {
        const b = new BatchSummaryBuilder({ batchId: 'ok' });
        b.add(generateImageResult({ batchId: 'ok', file: 'a.tif', detections: 5, seed: 1 }));
        return b.build();
      })(),
    );
    expect(calibrated).not.toContain('assumed-scale-banner');
    const builder = new BatchSummaryBuilder({ batchId: 'mixed' });
    builder.add(generateImageResult({ batchId: 'mixed', file: 'a.tif', detections: 5, seed: 1 }));
    builder.add({ ...generateImageResult({ batchId: 'mixed', file: 'b.png', detections: 5, seed: 2, nmPerPx: 2 }), nm_per_px_source: 'assumed', nm_per_px_detail: "the model's training scale" });
    const html = renderReport(builder.build());
    const banner = /<div class="banner" id="assumed-scale-banner"[^]*?<\/div>/.exec(html)?.[0] ?? '';
    expect(banner).toMatch(/1 of 2 images were sized at an ASSUMED scale<\/strong> \(2 nm\/px/);
    expect(html.indexOf('assumed-scale-banner')).toBeLessThan(html.indexOf('id="distribution"'));
    const rows = html.match(/<tr[ >][^]*?<\/tr>/g)!.filter((r) => r.includes('data-value'));
    expect(rows.filter((r) => r.includes('(ASSUMED)'))).toHaveLength(1);
    expect(rows.find((r) => r.includes('(ASSUMED)'))).toContain('b.png');
  });

  it('groups the pixel sizes by source, and puts scale warnings in a banner as the console does', () => {
    const builder = new BatchSummaryBuilder({ batchId: 'bars' });
    for (let i = 0; i < 20; i++) {
      const result = generateImageResult({ batchId: 'bars', file: `g-${i}.png`, detections: 3, seed: i + 1, nmPerPx: 3 + i * 0.001 });
      builder.add({
        ...result,
        nm_per_px_source: 'scale-bar',
        nm_per_px_detail: `scale bar 200 nm = ${(200 / (3 + i * 0.001)).toFixed(1)} px`,
        warnings: i === 4 ? ['the scale bar gives 3.004 nm/px, 902% away from the 0.3 nm/px of the batch: check which is right'] : result.warnings,
      });
    }
    const html = renderReport(builder.build());
    const pixelSize = /<dt>Pixel size<\/dt><dd>([^]*?)<\/dd>/.exec(html)![1]!;
    expect(pixelSize.split('<br>')).toHaveLength(1);
    expect(pixelSize).toMatch(/^3-3\.019 nm per pixel, read from the burned-in scale bar and its label \u2014 20 images\./);
    const banner = /<div class="banner warn" id="scale-warning-banner"[^]*?<\/div>/.exec(html)?.[0] ?? '';
    expect(banner).toContain('Check the scale of 1 image');
    expect(banner).toContain('g-4.png: the scale bar gives 3.004 nm/px, 902% away from the 0.3 nm/px of the batch');
    expect(html.indexOf('scale-warning-banner')).toBeLessThan(html.indexOf('id="distribution"'));
  });

  it('renders an empty batch without numbers it does not have', () => {
    const html = renderReport(new BatchSummaryBuilder({ batchId: 'empty' }).build());
    expect(html).toContain('No vesicles were detected');
    expect(html).toContain('<span id="stat-d50">\u2013</span>');
    expect(html).not.toContain('NaN');
    expect(html).not.toContain('undefined');
  });
});
