/** Wording helpers for what people read: console lines, picture keys, reports. */

/** "1 image", "3 images". */
export const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
