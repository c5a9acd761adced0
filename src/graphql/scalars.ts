import { Kind, type ValueNode } from "graphql";
import { formatMoney, parseMoney } from "../domain/money.ts";
import { builder } from "./builder.ts";
import { badInput } from "../errors.ts";

function literal(ast: ValueNode): unknown {
  return ast.kind === Kind.STRING || ast.kind === Kind.FLOAT || ast.kind === Kind.INT ? ast.value : undefined;
}

builder.scalarType("Money", {
  description: "An exact amount of money in the offer's currency (USD unless stated), as a decimal string with up to 4 decimals, e.g. \"2.49\". Inputs accept a string or a number.",
  serialize: (value) => formatMoney(value),
  parseValue: (value) => parseMoney(value),
  parseLiteral: (ast) => parseMoney(literal(ast)),
});

builder.scalarType("DateTime", {
  description: "A point in time, as an ISO 8601 string in UTC, e.g. \"2026-11-26T10:00:00.000Z\".",
  serialize: (value) => printTime(value instanceof Date ? value : new Date(value)),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});

// The offers of one ingestion cycle share their lastSeenAt, so a page prints the same few instants over and over;
// Date#toISOString costs ~0.6 µs, a lookup by epoch milliseconds a tenth of that. Bounded: cleared when full.
const printedTimes = new Map<number, string>();
function printTime(date: Date): string {
  const ms = date.getTime();
  let text = printedTimes.get(ms);
  if (text === undefined) {
    text = date.toISOString(); // throws RangeError on an invalid date, as before
    if (printedTimes.size >= 4096) printedTimes.clear();
    printedTimes.set(ms, text);
  }
  return text;
}

function parseDateTime(value: unknown): Date {
  const date = typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) throw badInput(`DateTime must be an ISO 8601 string such as "2026-11-26T10:00:00Z" (got ${JSON.stringify(value)}).`);
  return date;
}
