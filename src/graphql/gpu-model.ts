import { builder } from "./builder.ts";
import { GpuVendorEnum } from "./enums.ts";
import { GpuOfferRef } from "./offer.ts";
import { toRowId } from "../domain/ids.ts";

// ---------------------------------------------------------------- Types

export const GpuModelRef = builder.prismaNode("GpuModel", {
  id: { field: "id" },
  // A malformed or out-of-range id names no row (0 never does): `node` answers null, as for a missing one.
  findUnique: (id) => ({ id: toRowId(id) ?? 0 }),
  nullable: true,
  description: "A GPU model with its datasheet figures. Offers from every provider are normalised to these canonical models.",
  fields: (t) => ({
    name: t.exposeString("name", { description: "Canonical name, e.g. \"H100-SXM-80GB\", \"A100-PCIE-80GB\", \"RTX-4090\"." }),
    vendor: t.expose("vendor", { type: GpuVendorEnum, description: "Maker of the GPU." }),
    architecture: t.exposeString("architecture", { description: "GPU architecture, e.g. \"Hopper\", \"Ada Lovelace\", \"CDNA 3\"." }),
    vramGb: t.exposeInt("vramGb", { description: "Memory per GPU in GB." }),
    memoryBandwidthGbps: t.exposeInt("memoryBandwidthGbps", { description: "Peak memory bandwidth in GB/s (bounds LLM decode speed)." }),
    fp16Tflops: t.float({ description: "Dense FP16/BF16 tensor throughput in TFLOPS (without 2:4 sparsity).", resolve: (m) => m.fp16Tflops.toNumber() }),
    fp8Tflops: t.float({ nullable: true, description: "Dense FP8 (or INT8 TOPS where the GPU has no FP8) tensor throughput; null when the GPU has neither.", resolve: (m) => m.fp8Tflops?.toNumber() ?? null }),
    fp32Tflops: t.float({ description: "Non-tensor FP32 throughput in TFLOPS.", resolve: (m) => m.fp32Tflops.toNumber() }),
    formFactor: t.exposeString("formFactor", { description: "Board form factor, e.g. \"SXM\", \"PCIe\", \"OAM\"." }),
    offerCount: t.relationCount("offers", { where: { active: true }, description: "Number of active offers for this model." }),
  }),
});

builder.objectField(GpuOfferRef, "gpuModel", (t) =>
  t.field({
    type: GpuModelRef,
    nullable: true,
    description: "The canonical GPU model; null when the provider's GPU name is not one we know (see gpuName).",
    resolve: (offer, _args, ctx) => (offer.gpuModelId == null ? null : ctx.loaders.gpuModel.get(offer.gpuModelId)),
  }));

// ---------------------------------------------------------------- Queries

builder.queryFields((t) => ({
  gpuModels: t.field({
    type: [GpuModelRef],
    description: "Every GPU model we know, with datasheet figures, sorted by vendor then name.",
    resolve: (_root, _args, ctx) => ctx.services.catalog.gpuModels(ctx.actor),
  }),
  gpuModel: t.field({
    type: GpuModelRef,
    description: "One GPU model by name. Provider spellings are accepted too: \"a100 80gb\", \"NVIDIA H100 80GB HBM3\", \"RTX4090\".",
    args: { name: t.arg.string({ required: true, description: "Canonical name or any provider spelling." }) },
    resolve: (_root, args, ctx) => ctx.services.catalog.gpuModel(args, ctx.actor),
  }),
}));
