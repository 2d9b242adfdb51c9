/**
 * Distributed Map ItemReader against (local) S3: `s3:listObjectsV2` listings
 * and `s3:getObject` manifests in JSON, JSONL and CSV, with ReaderConfig's
 * MaxItems and CSV header options. Items have AWS's shapes.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { JsonObject, JsonValue } from './definition.js';
import { NoLocalBindingError, StatesError } from './errors.js';

export const LIST_OBJECTS_RESOURCE = 'arn:aws:states:::s3:listObjectsV2';
export const GET_OBJECT_RESOURCE = 'arn:aws:states:::s3:getObject';

export interface ReaderConfig {
  readonly InputType?: 'JSON' | 'JSONL' | 'CSV' | 'MANIFEST' | string;
  readonly CSVHeaderLocation?: 'FIRST_ROW' | 'GIVEN';
  readonly CSVHeaders?: string[];
  readonly CSVDelimiter?: 'COMMA' | 'PIPE' | 'SEMICOLON' | 'SPACE' | 'TAB';
  readonly MaxItems?: number;
}

export interface ItemReaderSpec {
  readonly Resource: string;
  /** Already evaluated against the Map state's input. */
  readonly Parameters: JsonObject;
  readonly ReaderConfig?: ReaderConfig;
}

export async function readItems(spec: ItemReaderSpec, s3: S3Client): Promise<JsonValue[]> {
  const bucket = spec.Parameters.Bucket;
  if (typeof bucket !== 'string' || bucket === '') {
    throw new StatesError('States.ItemReaderFailed', `ItemReader needs a Bucket, got ${JSON.stringify(spec.Parameters)}`);
  }
  const maxItems = spec.ReaderConfig?.MaxItems;
  let items: JsonValue[];
  if (spec.Resource === LIST_OBJECTS_RESOURCE) {
    items = await listObjects(s3, bucket, spec.Parameters, maxItems);
  } else if (spec.Resource === GET_OBJECT_RESOURCE) {
    const key = spec.Parameters.Key;
    if (typeof key !== 'string') throw new StatesError('States.ItemReaderFailed', 'ItemReader s3:getObject needs a Key');
    const text = await getText(s3, bucket, key);
    items = parseManifest(text, spec.ReaderConfig ?? {}, `s3://${bucket}/${key}`);
  } else {
    throw new NoLocalBindingError(`ItemReader Resource ${spec.Resource} has no local stand-in`);
  }
  return maxItems !== undefined && maxItems > 0 ? items.slice(0, maxItems) : items;
}

async function listObjects(s3: S3Client, bucket: string, params: JsonObject, maxItems: number | undefined): Promise<JsonValue[]> {
  const items: JsonValue[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: typeof params.Prefix === 'string' ? params.Prefix : undefined,
        Delimiter: typeof params.Delimiter === 'string' ? params.Delimiter : undefined,
        ContinuationToken: token,
      }),
    );
    for (const object of page.Contents ?? []) {
      // The listObjectsV2 reader's item shape (note `Etag` and epoch-seconds LastModified).
      items.push({
        Etag: object.ETag ?? '',
        Key: object.Key ?? '',
        LastModified: object.LastModified ? Math.floor(object.LastModified.getTime() / 1000) : 0,
        Size: object.Size ?? 0,
        StorageClass: object.StorageClass ?? 'STANDARD',
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token && (maxItems === undefined || maxItems <= 0 || items.length < maxItems));
  return items;
}

async function getText(s3: S3Client, bucket: string, key: string): Promise<string> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await object.Body?.transformToString('utf8')) ?? '';
  } catch (err) {
    throw new StatesError('States.ItemReaderFailed', `cannot read item manifest s3://${bucket}/${key}: ${(err as Error).message}`);
  }
}

const DELIMITERS: Record<string, string> = { COMMA: ',', PIPE: '|', SEMICOLON: ';', SPACE: ' ', TAB: '\t' };

/** Parses a manifest body; errors name the manifest and the line. */
export function parseManifest(text: string, config: ReaderConfig, source: string): JsonValue[] {
  const type = config.InputType ?? 'JSON';
  if (type === 'JSON') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new StatesError('States.ItemReaderFailed', `${source}: not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new StatesError('States.ItemReaderFailed', `${source}: a JSON manifest must be an array`);
    return parsed as JsonValue[];
  }
  if (type === 'JSONL') {
    return text
      .split(/\r?\n/)
      .map((line, i) => ({ line: line.trim(), n: i + 1 }))
      .filter(({ line }) => line !== '')
      .map(({ line, n }) => {
        try {
          return JSON.parse(line) as JsonValue;
        } catch (err) {
          throw new StatesError('States.ItemReaderFailed', `${source} line ${n}: not valid JSON: ${(err as Error).message}`);
        }
      });
  }
  if (type === 'CSV') return parseCsv(text, config, source);
  throw new NoLocalBindingError(`ItemReader InputType ${type} is not supported locally (JSON, JSONL and CSV are)`);
}

function parseCsv(text: string, config: ReaderConfig, source: string): JsonValue[] {
  const delimiter = DELIMITERS[config.CSVDelimiter ?? 'COMMA'] ?? ',';
  const rows = splitCsv(text, delimiter).filter((row) => !(row.length === 1 && row[0] === ''));
  let headers: string[];
  if ((config.CSVHeaderLocation ?? 'FIRST_ROW') === 'GIVEN') {
    if (!config.CSVHeaders?.length) throw new StatesError('States.ItemReaderFailed', `${source}: CSVHeaderLocation GIVEN needs CSVHeaders`);
    headers = config.CSVHeaders;
  } else {
    const first = rows.shift();
    if (!first) return [];
    headers = first;
  }
  return rows.map((row, i) => {
    if (row.length > headers.length) {
      throw new StatesError('States.ItemReaderFailed', `${source} row ${i + 1}: ${row.length} fields but ${headers.length} headers`);
    }
    const item: JsonObject = {};
    headers.forEach((h, j) => (item[h] = row[j] ?? ''));
    return item;
  });
}

/** RFC 4180 splitting: quoted fields may hold delimiters, quotes ("") and newlines. */
function splitCsv(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
