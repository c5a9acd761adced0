// Text PostgreSQL can store: no NUL (refused in text and jsonb) and no UTF-16 surrogate without its pair
// (not text at all; jsonb refuses it). The API refuses such input (graphql/limits.ts); text a model
// writes is cleaned instead (services/chat.ts).

/** A NUL, or an unpaired UTF-16 surrogate. */
export const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE_TEXT.source, "g");

/** The text with NULs dropped and unpaired surrogates replaced by U+FFFD. */
export const storableText = (s: string) => s.replace(UNSTORABLE_ALL, (c) => (c === "\u0000" ? "" : "\uFFFD"));
