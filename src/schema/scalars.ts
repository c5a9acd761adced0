import { Kind, type ValueNode } from "graphql";
import { Prisma } from "../generated/prisma/client.ts";
import { builder } from "./builder.ts";
import { badInput } from "./errors.ts";

const MONEY = /^\d{1,8}(\.\d{1,4})?$/;

/** Parses a money input: non-negative, at most 8 integer digits and 4 decimals; returned as a canonical string. */
export function parseMoney(value: unknown): string {
  const text = typeof value === "number" && Number.isFinite(value) ? String(value) : typeof value === "string" ? value.trim() : null;
  if (text === null) throw badInput("Money must be a decimal string such as \"2.49\" or a number.");
  if (text.startsWith("-")) throw badInput(`Money cannot be negative (got ${text}).`);
  if (!MONEY.test(text)) {
    const decimals = text.split(".")[1]?.length ?? 0;
    throw badInput(decimals > 4
      ? `Money has at most 4 decimal places (got ${text}).`
      : `"${text}" is not a valid amount of money: use a decimal like "2.49" (max 99999999.9999).`);
  }
  return new Prisma.Decimal(text).toString();
}

/** Money prints with at least two decimals ("3.50"), and exactly as stored beyond that ("1.3925"). */
export function formatMoney(value: Prisma.Decimal | string | number): string {
  const d = new Prisma.Decimal(value);
  return d.decimalPlaces() < 2 ? d.toFixed(2) : d.toString();
}

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
  serialize: (value) => (value instanceof Date ? value : new Date(value)).toISOString(),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});

function parseDateTime(value: unknown): Date {
  const date = typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) throw badInput(`DateTime must be an ISO 8601 string such as "2026-11-26T10:00:00Z" (got ${JSON.stringify(value)}).`);
  return date;
}
