/**
 * Where a JSON file stops being JSON, as a person fixing it by hand needs it:
 * the line and column and what was expected there. JSON.parse's own message
 * (Node 20) often names neither. jsonc-parser is VS Code's JSON scanner.
 */
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';

/** By jsonc-parser's error names (its codes are a const enum, which isolated modules cannot read). */
const WHAT: Readonly<Record<string, string>> = {
  InvalidSymbol: 'an unexpected character (names and text need "double quotes")',
  InvalidNumberFormat: 'a malformed number',
  PropertyNameExpected: 'a "quoted" property name expected (a trailing comma?)',
  ValueExpected: 'a value expected (a trailing comma, or a missing value?)',
  ColonExpected: 'a colon expected',
  CommaExpected: 'a comma expected',
  CloseBraceExpected: 'a closing } expected',
  CloseBracketExpected: 'a closing ] expected',
  EndOfFileExpected: 'more text after the end of the JSON value',
  InvalidCommentToken: 'a comment, which JSON does not allow',
  UnexpectedEndOfComment: 'an unclosed comment',
  UnexpectedEndOfString: 'a string that is not closed',
  UnexpectedEndOfNumber: 'a number cut short',
  InvalidUnicode: 'a malformed \\u escape',
  InvalidEscapeCharacter: 'a malformed \\ escape',
  InvalidCharacter: 'a control character inside a string',
};

export interface JsonSyntaxError {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  /** "line 5, column 3: a comma expected". */
  readonly message: string;
}

/** The first syntax error of `text`, or undefined when it is valid JSON. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  if (text.trim() === '') return { line: 1, column: 1, message: 'line 1, column 1: the file is empty' };
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return undefined;
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return { line, column, message: `line ${line}, column ${column}: ${WHAT[printParseErrorCode(first.error)] ?? 'not valid JSON'}` };
}

/** JSON.parse, with the place and the reason in the error when the text is not JSON. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const located = findJsonSyntaxError(text);
    throw new SyntaxError(located ? `not valid JSON at ${located.message}` : `not valid JSON (${(err as Error).message})`, { cause: err });
  }
}
