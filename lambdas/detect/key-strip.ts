/**
 * The key beneath a picture (an overlay, an evaluation's outcome picture): a
 * swatch per colour with what it means, a note (the score threshold), and an
 * optional second line naming the image and the model. Drawn beneath the
 * image, never over it, so that a picture passed around on its own still says
 * what it shows.
 */

export interface KeyEntry {
  readonly colour: readonly [number, number, number];
  /** Plain text (escaped here). */
  readonly text: string;
  /** A dashed swatch, for shapes drawn dashed. Default false. */
  readonly dashed?: boolean;
}

/** An SVG to draw at (left, top) of the strip. */
export interface KeyPiece {
  readonly svg: string;
  readonly left: number;
  readonly top: number;
}

export interface KeyStrip {
  /** Its rows beneath the picture, as wide as the picture. */
  readonly height: number;
  /**
   * Each entry, the note and the caption as an SVG of its own: rendering text costs ~1 ms an element, and most
   * pieces repeat from image to image (the threshold, the model; small counts), so they are rasterised once.
   */
  readonly pieces: readonly KeyPiece[];
}

/** A scale bar for the key: its length in the picture's px and what that length is. */
export interface KeyScaleBar {
  readonly px: number;
  readonly label: string;
}

/** Text widths are estimated (no font metrics here): about 0.55 em a character in a sans-serif face. */
const EM_PER_CHARACTER = 0.55;

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const hex = (c: readonly number[]): string => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** A threshold as the key says it: three decimals, so that 0.4989 never reads as 0.50. */
export const scoreNote = (threshold: number): string => `at score \u2265 ${threshold.toFixed(3)}`;

/**
 * The strip: the entries and the note on one line, and the scale bar when given at its right end, shrunk to fit;
 * the caption on a second line when given.
 */
export function keyStrip(width: number, entries: readonly KeyEntry[], note: string, caption?: string, scaleBar?: KeyScaleBar): KeyStrip {
  // In em: a margin, then per entry a 1.6 em swatch, a 0.4 em gap, its text and a 1.2 em gap; then the note;
  // then, with a bar, a 1.2 em gap, the label, a 0.4 em gap, the bar (in px) and a margin.
  const barEm = scaleBar ? 2.2 + scaleBar.label.length * EM_PER_CHARACTER : 0;
  const lengthEm = 0.6 + entries.reduce((sum, e) => sum + 3.2 + e.text.length * EM_PER_CHARACTER, 0) + note.length * EM_PER_CHARACTER + barEm;
  const room = width - (scaleBar?.px ?? 0);
  // A 70th of the width, at least 11 px, shrunk to fit the width (never under 6 px: a tiny image's key is cut off instead).
  const font = Math.max(6, Math.min(Math.max(11, Math.round(width / 70)), Math.floor(room / lengthEm)));
  const lineHeight = Math.round(font * 2);
  const height = caption ? Math.round(lineHeight + font * 1.4) : lineHeight;
  const middle = Math.round(font * 0.7);
  const baseline = (middle + font * 0.35).toFixed(1);
  const textHeight = Math.round(font * 1.4);
  // Room for wider letters than the layout's estimate: a piece's empty margin costs nothing, a cut letter does.
  const textWidth = (content: string) => Math.ceil((content.length * 0.7 + 0.5) * font);
  const svg = (w: number, body: string) => `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${textHeight}">${body}</svg>`;
  const text = (x: number, fill: string, content: string) =>
    `<text x="${x.toFixed(1)}" y="${baseline}" font-family="sans-serif" font-size="${font}" fill="${fill}">${escapeXml(content)}</text>`;
  const top = Math.round(lineHeight / 2 - middle);
  let x = font * 0.6;
  const pieces: KeyPiece[] = [];
  for (const entry of entries) {
    const swatch =
      `<line x1="0" y1="${middle}" x2="${(font * 1.6).toFixed(1)}" y2="${middle}" stroke="${hex(entry.colour)}" stroke-width="${Math.max(2, Math.round(font / 5))}"` +
      `${entry.dashed ? ` stroke-dasharray="${Math.max(2, Math.round(font / 3))}"` : ''}/>`;
    pieces.push({ svg: svg(Math.ceil(font * 2) + textWidth(entry.text), swatch + text(font * 2, 'white', entry.text)), left: Math.round(x), top });
    x += font * (3.2 + entry.text.length * EM_PER_CHARACTER);
  }
  pieces.push({ svg: svg(textWidth(note), text(0, '#bbbbbb', note)), left: Math.round(x), top });
  if (scaleBar) {
    // Right-aligned: the label, then the bar.
    const thickness = Math.max(3, Math.round(font / 4));
    const labelWidth = textWidth(scaleBar.label);
    const barLeft = Math.round(width - font * 0.6 - scaleBar.px);
    // The label's right end is pinned (text-anchor end), so its real width never runs into the bar.
    const label = `<text x="${labelWidth}" y="${baseline}" font-family="sans-serif" font-size="${font}" fill="white" text-anchor="end">${escapeXml(scaleBar.label)}</text>`;
    pieces.push({ svg: svg(labelWidth, label), left: Math.round(barLeft - font * 0.5 - labelWidth), top });
    pieces.push({
      svg: svg(Math.ceil(scaleBar.px), `<rect x="0" y="${middle - (thickness >> 1)}" width="${scaleBar.px.toFixed(1)}" height="${thickness}" fill="white"/>`),
      left: barLeft,
      top,
    });
  }
  if (caption) pieces.push({ svg: svg(textWidth(caption), text(0, '#bbbbbb', caption)), left: Math.round(font * 0.6), top: lineHeight - Math.round(font * 0.45) });
  return { height, pieces };
}
