// Keeps the GpuModel table equal to the spec table (src/domain/gpu/specs.ts), in one statement.
import { GPU_SPECS, type GpuSpec } from "../domain/gpu/specs.ts";
import type { DbClient } from "../infra/db.ts";


const UPSERT_GPU_MODELS = `
INSERT INTO "GpuModel" (name, vendor, architecture, "vramGb", "memoryBandwidthGbps", "fp16Tflops", "fp8Tflops", "fp32Tflops", "formFactor")
SELECT s.name, s.vendor::"GpuVendor", s.architecture, s."vramGb", s."memoryBandwidthGbps", s."fp16Tflops", s."fp8Tflops", s."fp32Tflops", s."formFactor"
FROM jsonb_to_recordset($1::jsonb) AS s(
  name text, vendor text, architecture text, "vramGb" int, "memoryBandwidthGbps" int,
  "fp16Tflops" numeric, "fp8Tflops" numeric, "fp32Tflops" numeric, "formFactor" text)
ON CONFLICT (name) DO UPDATE SET
  vendor = EXCLUDED.vendor, architecture = EXCLUDED.architecture, "vramGb" = EXCLUDED."vramGb",
  "memoryBandwidthGbps" = EXCLUDED."memoryBandwidthGbps", "fp16Tflops" = EXCLUDED."fp16Tflops",
  "fp8Tflops" = EXCLUDED."fp8Tflops", "fp32Tflops" = EXCLUDED."fp32Tflops", "formFactor" = EXCLUDED."formFactor"
RETURNING id, name`;

/** Upserts every spec into GpuModel (idempotent); returns canonical name → GpuModel id. */
export async function syncGpuModels(prisma: DbClient, specs: readonly GpuSpec[] = GPU_SPECS): Promise<Map<string, number>> {
  const rows = specs.map((s) => ({
    name: s.name, vendor: s.vendor, architecture: s.architecture, vramGb: s.vramGb,
    memoryBandwidthGbps: s.memoryBandwidthGbps, fp16Tflops: s.fp16Tflops, fp8Tflops: s.fp8Tflops,
    fp32Tflops: s.fp32Tflops, formFactor: s.formFactor,
  }));
  const result = await prisma.$queryRawUnsafe<{ id: number; name: string }[]>(UPSERT_GPU_MODELS, JSON.stringify(rows));
  return new Map(result.map((r) => [r.name, r.id]));
}
