/**
 * Which files are micrographs, by extension: one list for every part that lists
 * folders or keys (the CLI, the dataset ingestion, the dataset check). The
 * detect function still decides from each file's bytes what it really is.
 */
import { posix } from 'node:path';

/** What the trainer can read (PIL in the training container): the formats of training datasets. */
export const TRAINABLE_IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.tif', '.tiff'] as const;
/** Camera formats only inference reads (lambdas/detect/readers/). */
export const CAMERA_IMAGE_EXTENSIONS = ['.dm3', '.dm4', '.mrc', '.mrcs'] as const;
/** Everything a batch may hold. */
export const MICROGRAPH_EXTENSIONS: readonly string[] = [...TRAINABLE_IMAGE_EXTENSIONS, ...CAMERA_IMAGE_EXTENSIONS];

const extension = (file: string): string => posix.extname(file).toLowerCase();
export const isMicrograph = (file: string): boolean => MICROGRAPH_EXTENSIONS.includes(extension(file));
export const isTrainableImage = (file: string): boolean => (TRAINABLE_IMAGE_EXTENSIONS as readonly string[]).includes(extension(file));
export const isCameraImage = (file: string): boolean => (CAMERA_IMAGE_EXTENSIONS as readonly string[]).includes(extension(file));
