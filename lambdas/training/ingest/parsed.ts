/**
 * What an annotation parser hands the ingestion: objects and image mentions
 * as the file wrote them (references not yet resolved to images, boxes maybe
 * normalised), and the problems it found, each with its file and line.
 */
import type { Box } from '../../shared/contracts.js';
import type { Problem } from './truth.js';

export interface RawObject {
  /** The image as the file names it (a path, a file name or a stem). */
  readonly imageRef: string;
  /** Folder of the annotation file, relative to the dataset root ('' at the root): references are relative to it. */
  readonly refDir: string;
  /** [x1, y1, x2, y2]: pixels, or 0..1 of the image size when `normalised`. */
  readonly box: Box;
  readonly normalised: boolean;
  /** Outline [x0, y0, x1, y1, ...] in the same space as the box, or null. */
  readonly polygon: number[] | null;
  readonly className: string;
  readonly source: { readonly file: string; readonly line: number | null };
}

/** An annotation file says this image is labelled there (possibly with no objects: an explicit negative). */
export interface Mention {
  readonly imageRef: string;
  readonly refDir: string;
  readonly file: string;
  readonly line: number | null;
  /** A scale the annotation file gives for this image (COCO `images[].nm_per_px`, exodetect's export). */
  readonly nmPerPx?: number;
  /** The file's own id of the image (COCO). */
  readonly id?: number | string;
}

export interface ParsedAnnotations {
  readonly objects: RawObject[];
  readonly mentions: Mention[];
  readonly problems: Problem[];
  /** The file as a whole could not be read (its problems are about the file, not one annotation). */
  readonly unreadable?: boolean;
  /** A scale the file gives for all its images (COCO `info.nm_per_px`). */
  readonly nmPerPx?: number;
}

/** A file that cannot be read at all: no objects, its problems are the file's. */
export const emptyParse = (problems: Problem[] = []): ParsedAnnotations => ({ objects: [], mentions: [], problems, unreadable: true });

/** 1-based line of the n-th (0-based) occurrence of `needle`: enough to point a person at it. */
export function lineOfNth(text: string, needle: string, n: number): number | null {
  let at = -1;
  for (let i = 0; i <= n; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) return null;
  }
  let line = 1;
  for (let i = 0; i < at; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Line numbers of every occurrence of `needle`, in one pass (COCO files hold thousands of annotations). */
export function linesOf(text: string, needle: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let from = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) {
    for (let i = from; i < at; i++) if (text.charCodeAt(i) === 10) line++;
    from = at;
    lines.push(line);
  }
  return lines;
}

export const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Strips a UTF-8 byte-order mark (Windows tools write one). */
export const stripBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
