// The SQL behind estimateWorkload: the cheapest offers of each (GPU model, GPU count) configuration that
// matches a filter, with the GPU model's datasheet figures. The estimate itself is src/domain/math/workload.ts.
import type { Prisma, PrismaClient } from "../generated/prisma/client.ts";
import { offerWhere, type OfferFilter } from "./offers.ts";

export interface WorkloadCandidate {
  id: number; gpuModelId: number | null; gpuName: string; gpuCount: number; onDemandPrice: Prisma.Decimal;
  /** Matching offers of the candidate's configuration (it may stand for more than `first`). */
  total: number;
  /** The GPU model's name and figures; null without a GPU model. */
  name: string | null; vramGb: number | null; memoryBandwidthGbps: number | null; fp16Tflops: Prisma.Decimal | null; fp8Tflops: Prisma.Decimal | null;
}

/** Cost scales with price within a (GPU model, count) configuration: its `first` cheapest offers cover the cheapest overall. */
export function loadWorkloadCandidates(prisma: PrismaClient, filter: OfferFilter, first: number): Promise<WorkloadCandidate[]> {
  return prisma.$queryRaw<WorkloadCandidate[]>`
    SELECT c.id, c."gpuModelId", c."gpuName", c."gpuCount", c."onDemandPrice", c.total,
           m.name, m."vramGb", m."memoryBandwidthGbps", m."fp16Tflops", m."fp8Tflops"
    FROM (
      SELECT o.id, o."gpuModelId", o."gpuName", o."gpuCount", o."onDemandPrice",
             row_number() OVER (PARTITION BY coalesce(o."gpuModelId"::text, o."gpuName"), o."gpuCount" ORDER BY o."onDemandPrice", o.id) AS position,
             count(*) OVER (PARTITION BY coalesce(o."gpuModelId"::text, o."gpuName"), o."gpuCount")::int AS total
      FROM "GpuOffer" o WHERE ${offerWhere(filter)}
    ) c LEFT JOIN "GpuModel" m ON m.id = c."gpuModelId"
    WHERE c.position <= ${Math.max(first, 1)}
    ORDER BY c."onDemandPrice", c.id`;
}
