/**
 * An image's nm/px from the image itself, by the rules of calibration.ts:
 * the batch value, the file's metadata, then its burned-in scale bar (read
 * here), then the model's training scale. Inference (pipeline.ts) calls
 * `calibrateDecoded`; training-side dataset ingestion calls
 * `calibrateImageBytes`, so both sides size an image the same way.
 */
import { resolveCalibration, scaleFromFile, type Calibration } from './calibration.js';
import { decodeImage, type DecodedImage, type DecodeProps } from './image-decode.js';
import type { Box } from './scale-bar/find-bar.js';
import type { LabelOcr } from './scale-bar/ocr.js';
import { readScaleBar, type ScaleBarReading } from './scale-bar/read-scale-bar.js';

export interface CalibrateProps {
  /** nm/px set for the image from outside (batch.json, --nm-per-px, a dataset's manifest): wins when set. */
  readonly nmPerPx?: number;
  /** How to name that value in the result's detail. Default "nm_per_px of the batch (batch.json or --nm-per-px)". */
  readonly nmPerPxField?: string;
  /** The model's training scale: the assumption of last resort (flagged). Without it, no source gives undefined. */
  readonly modelNmPerPx?: number;
  /** Look for a burned-in scale bar and read its label (OCR). Default true. */
  readonly readScaleBar?: boolean;
  /** The OCR engine. Default: the process's shared tesseract worker. */
  readonly ocr?: LabelOcr;
}

export interface ImageCalibration {
  /** undefined when nothing gives a scale (no batch value, no metadata, no bar, no model scale). */
  readonly calibration?: Calibration;
  /** The burned-in scale bar, when one was read, whatever the scale's source. */
  readonly scaleBar?: ScaleBarReading;
  /** Boxes (bar and label) detection must ignore: the bar read, or a bar with a label line whose label did not read. */
  readonly mask: Box[];
}

/** Formats written by cameras and processing software: raw data, never a burned-in bar. */
const RAW_FORMATS = new Set(['dm3', 'dm4', 'mrc']);

export async function calibrateDecoded(image: DecodedImage, props: CalibrateProps = {}): Promise<ImageCalibration> {
  const look = (props.readScaleBar ?? true) && !RAW_FORMATS.has(image.format);
  const expectedNmPerPx = props.nmPerPx ?? scaleFromFile(image).nmPerPx;
  const bar = look ? await readScaleBar(image, { ocr: props.ocr, expectedNmPerPx }) : { mask: [] };
  const reading = bar.reading;
  const calibration = resolveCalibration({
    batchNmPerPx: props.nmPerPx,
    batchField: props.nmPerPxField,
    tiffTags: image.tiffTags,
    pixelSize: image.pixelSize,
    scaleBar: reading && {
      nmPerPx: reading.nmPerPx,
      barPx: reading.barPx,
      labelText: reading.labelText,
      estimated: reading.finding.lengthFrom !== 'edges',
    },
    scaleBarProblem: bar.problem,
    modelNmPerPx: props.modelNmPerPx,
  });
  return { calibration, scaleBar: reading, mask: bar.mask };
}

export interface ImageBytesCalibration extends ImageCalibration {
  readonly width: number;
  readonly height: number;
  readonly format: string;
}

/**
 * Size and nm/px of one image from its bytes (PNG, JPEG, TIFF, DM3/DM4, MRC), by the same rules as
 * inference. `name` is used in error messages. Throws ImageError (naming the file) for a file that
 * cannot be decoded. Example, in dataset ingestion:
 *
 *   const { width, height, calibration } = await calibrateImageBytes(bytes, 'images/a.tif', {
 *     nmPerPx: datasetJson.images?.['images/a.tif']?.nm_per_px, nmPerPxField: 'dataset.json', modelNmPerPx: 2 });
 *   // calibration.nmPerPx, calibration.source ('batch' | 'file' | 'scale-bar' | 'assumed'), calibration.detail
 */
export async function calibrateImageBytes(bytes: Uint8Array, name: string, props: CalibrateProps & { readonly decode?: DecodeProps } = {}): Promise<ImageBytesCalibration> {
  const image = await decodeImage(bytes, name, props.decode);
  return { width: image.width, height: image.height, format: image.format, ...(await calibrateDecoded(image, props)) };
}
