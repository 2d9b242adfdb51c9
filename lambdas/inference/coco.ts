/**
 * COCO outputs, streamed image by image.
 *
 * - detections.coco.json: the COCO *results* format, a bare array of
 *   {image_id, category_id, bbox, score}, what COCO evaluation tools load
 *   next to a ground-truth file with the same image ids (box evaluation:
 *   COCO tools expect RLE masks, not polygons, in segmentation results).
 * - annotations.coco.json: the same predictions as a COCO *dataset*
 *   (info, images, annotations, categories) that CVAT, Label Studio and
 *   makesense.ai import for correction, each vesicle's outline as its
 *   polygon `segmentation` (and `area` the outline's), so those tools show
 *   and edit outlines. Annotations are streamed first and
 *   images/categories written at the end; key order does not matter in JSON.
 *
 * Image ids are 1-based in the order the images are read; category ids are
 * class_id + 1 (COCO tools treat id 0 as background).
 */
import type { Detection, ImageResult, OutlineMethod } from '../shared/contracts.js';
import { polygonArea } from '../detect/outline.js';
import { roundTo, toXywh } from './boxes.js';
import { imageFileName } from './paths.js';
import { JsonArrayWriter, type TextSink } from './sinks.js';

export const cocoCategoryId = (classId: number): number => classId + 1;

export interface CocoImage {
  readonly id: number;
  readonly file_name: string;
  readonly width: number;
  readonly height: number;
  /** The image's scale, which the training ingestion reads: the file stays right wherever it is copied. */
  readonly nm_per_px?: number;
}

export interface CocoCategory {
  readonly id: number;
  readonly name: string;
  readonly supercategory: string;
}

export interface CocoAnnotation {
  readonly id: number;
  readonly image_id: number;
  readonly category_id: number;
  readonly bbox: [number, number, number, number];
  readonly area: number;
  readonly iscrowd: 0;
  /** The outline as one polygon [[x0, y0, x1, y1, ...]] (original px, 1/100 px grid); [] when the detection has none. */
  readonly segmentation: number[][];
  readonly score: number;
  readonly attributes?: {
    readonly diameter_nm: number;
    readonly box_diameter_nm?: number;
    readonly outline_method?: OutlineMethod;
    readonly on_edge: boolean;
    readonly in_size_range: boolean;
  };
}

/** What a COCO annotation needs from a detection; the outline and the attributes are optional. */
export type CocoObject = Pick<Detection, 'box_px' | 'class_id' | 'class_name' | 'score'> &
  Partial<Pick<Detection, 'diameter_nm' | 'box_diameter_nm' | 'outline_method' | 'outline_px' | 'on_edge' | 'in_size_range'>>;

export interface CocoResult {
  readonly image_id: number;
  readonly category_id: number;
  readonly bbox: [number, number, number, number];
  readonly score: number;
}

export function cocoResultEntries(imageId: number, detections: readonly Detection[]): CocoResult[] {
  return detections.map((d) => ({ image_id: imageId, category_id: cocoCategoryId(d.class_id), bbox: toXywh(d.box_px), score: roundTo(d.score, 4) }));
}

/** Streams a COCO dataset document: call addImage per image, then finish(). */
export class CocoDatasetWriter {
  private readonly annotations: JsonArrayWriter;
  private readonly images: CocoImage[] = [];
  private readonly categories = new Map<number, CocoCategory>();
  private nextAnnotationId = 1;
  private opened = false;

  constructor(
    private readonly sink: TextSink,
    private readonly info: Record<string, unknown>,
  ) {
    this.annotations = new JsonArrayWriter(sink);
  }

  /** Declare categories up front (e.g. the model's class names) so that empty classes still appear. */
  declareCategory(classId: number, name: string): void {
    const id = cocoCategoryId(classId);
    if (!this.categories.has(id)) this.categories.set(id, { id, name, supercategory: 'vesicle' });
  }

  async addImage(image: CocoImage, detections: readonly CocoObject[]): Promise<void> {
    if (!this.opened) {
      await this.annotations.open(`{"info":${JSON.stringify(this.info)},"licenses":[],"annotations":`);
      this.opened = true;
    }
    this.images.push(image);
    const entries: CocoAnnotation[] = detections.map((d) => {
      this.declareCategory(d.class_id, d.class_name);
      const bbox = toXywh(d.box_px);
      const outline = d.outline_px && d.outline_px.length >= 6 ? d.outline_px.map((v) => roundTo(v, 2)) : null;
      return {
        id: this.nextAnnotationId++,
        image_id: image.id,
        category_id: cocoCategoryId(d.class_id),
        bbox,
        area: roundTo(outline ? polygonArea(outline) : bbox[2] * bbox[3], 2),
        iscrowd: 0,
        segmentation: outline ? [outline] : [],
        score: roundTo(d.score, 4),
        ...(d.diameter_nm !== undefined
          ? {
              attributes: {
                diameter_nm: roundTo(d.diameter_nm, 2),
                ...(d.box_diameter_nm !== undefined && { box_diameter_nm: roundTo(d.box_diameter_nm, 2) }),
                ...(d.outline_method !== undefined && { outline_method: d.outline_method }),
                on_edge: d.on_edge ?? false,
                in_size_range: d.in_size_range ?? true,
              },
            }
          : {}),
      };
    });
    await this.annotations.add(entries);
  }

  async finish(): Promise<void> {
    if (!this.opened) {
      await this.annotations.open(`{"info":${JSON.stringify(this.info)},"licenses":[],"annotations":`);
      this.opened = true;
    }
    const categories = [...this.categories.values()].sort((a, b) => a.id - b.id);
    await this.annotations.closeArray(`,"images":${JSON.stringify(this.images)},"categories":${JSON.stringify(categories)}}\n`);
  }
}

export function cocoImageFor(batchId: string, imageId: number, result: ImageResult): CocoImage {
  return { id: imageId, file_name: imageFileName(batchId, result.image_key), width: result.width, height: result.height };
}
