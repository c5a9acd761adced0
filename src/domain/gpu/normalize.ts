// Placeholder: implemented by the GPU-normalisation work. Interface is fixed.
export type GpuMatch = { known: true; name: string } | { known: false; raw: string };
export function normalizeGpuName(raw: string, hints?: { vramGb?: number | null; instanceType?: string | null }): GpuMatch {
  void hints;
  return { known: false, raw };
}
