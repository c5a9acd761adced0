// The assistant's use cases. parseWorkload: free text → a typed workload with ready-to-use estimateWorkload
// and offers variables; public, any caller. The reading is pure (src/domain/assistant/workload-parser.ts);
// this layer checks the text and keeps only GPU models the catalog lists, so the filter is never rejected.
import type { PrismaClient } from "../generated/prisma/client.ts";
import { badInput } from "../errors.ts";
import { parseWorkload, workloadTextProblem, type ParsedWorkload } from "../domain/assistant/workload-parser.ts";
import { resolveGpuModels } from "../infra/names.ts";
import type { Actor } from "./actor.ts";
import type { EstimateWorkloadRequest } from "./workload.ts";

export interface ParseWorkloadRequest {
  /** What a person typed: non-empty, at most 2,000 characters, no control characters but newline and tab. */
  text: string;
}

export type ParseWorkloadResult = ParsedWorkload & {
  /** estimateWorkload's `input`, or null (see workloadInputReason). */
  workloadInput: EstimateWorkloadRequest["input"] | null;
};

export function createAssistantService({ prisma }: { prisma: PrismaClient }) {
  return {
    /** Reads the text into a workload; BAD_USER_INPUT (reason EMPTY_TEXT, TEXT_TOO_LONG or CONTROL_CHARACTER) when it cannot be read. */
    async parseWorkload(request: ParseWorkloadRequest, _actor: Actor): Promise<ParseWorkloadResult> {
      const problem = workloadTextProblem(request.text);
      if (problem) throw badInput(problem.message, { reason: problem.code, argument: "text" });
      const parsed = parseWorkload(request.text);
      const named = parsed.offerFilter.gpuModels ?? [];
      if (named.length === 0) return parsed;
      // offers and estimateWorkload reject unknown GPU models, so the filter keeps only the listed ones.
      const { unknown } = await resolveGpuModels(prisma, named);
      if (unknown.length === 0) return parsed;
      const listed = named.filter((name) => !unknown.includes(name));
      const notes = [...parsed.notes];
      for (const gpu of parsed.gpus) {
        if (gpu.gpuModels.every((name) => unknown.includes(name))) {
          notes.push(`No offer here has ${gpu.gpuModels.join(" or ")} (“${gpu.text}”), so offerFilter does not name ${gpu.gpuModels.length > 1 ? "them" : "it"}${listed.length ? "" : " and matches every GPU"}.`);
        }
      }
      const { gpuModels: _dropped, ...rest } = parsed.offerFilter;
      return { ...parsed, notes, offerFilter: listed.length ? { ...rest, gpuModels: listed } : rest };
    },
  };
}
