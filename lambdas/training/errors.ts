import { ExodetectError } from '../shared/errors.js';

/** The training request or the dataset under datasets/<name>/ cannot be used (missing, empty, malformed). */
export class DatasetError extends ExodetectError {}

/** The training job's model.tar.gz lacks a file the registry needs, or holds an invalid metrics.json. */
export class ModelArtifactError extends ExodetectError {}

/** models/champion.json exists but cannot be read as a champion record. */
export class ChampionRecordError extends ExodetectError {}
