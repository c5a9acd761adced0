// Page sizes and page-argument checks shared by every Relay connection the services serve.
import { badInput } from "../errors.ts";

export const PAGE_SIZE = { default: 20, max: 100 } as const;

/** first and last within 0…max; `bothAllowed: false` refuses first together with last. */
export function checkPageArgs(args: { first?: number | null; last?: number | null }, opts: { bothAllowed?: boolean } = {}): void {
  if (!opts.bothAllowed && args.first != null && args.last != null) throw badInput("Use either first (with after) or last (with before), not both.");
  for (const name of ["first", "last"] as const) {
    const n = args[name];
    if (n != null && (n < 0 || n > PAGE_SIZE.max)) throw badInput(`${name} must be between 0 and ${PAGE_SIZE.max} (got ${n}).`, { argument: name });
  }
}
