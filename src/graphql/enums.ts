import type { Precision } from "../domain/math/llm.ts";
import { COMPLIANCE_TAG_DESCRIPTIONS, type ComplianceTag } from "../domain/catalog/compliance.ts";
import { builder } from "./builder.ts";

type Described<T extends string> = Record<T, { description: string }>;

/** An enum whose GraphQL values are the Prisma values, each documented. */
export function documentedEnum<T extends string>(name: string, description: string, values: Described<T>) {
  return builder.enumType(name, {
    description,
    values: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { value: k, ...(v as object) }])) as { [K in T]: { value: K; description: string } },
  });
}

export const AvailabilityEnum = documentedEnum("Availability", "Whether an offer can be rented now, as reported by its provider.", {
  AVAILABLE: { description: "Can be rented now." },
  LIMITED: { description: "Some capacity, possibly not in every zone or count." },
  UNAVAILABLE: { description: "Listed but sold out." },
  UNKNOWN: { description: "The source does not say (static price catalogs)." },
});
export const InterconnectEnum = documentedEnum("Interconnect", "How the GPUs of a multi-GPU instance talk to each other.", {
  PCIE: { description: "Over the PCIe bus only." },
  SXM: { description: "SXM boards with NVLink/NVSwitch between all GPUs." },
  NVLINK: { description: "PCIe cards bridged with NVLink." },
});
export const DeploymentEnum = documentedEnum("Deployment", "What you get when you rent the offer.", {
  VM: { description: "A virtual machine." },
  CONTAINER: { description: "A container (pod) on a shared host." },
  BARE_METAL: { description: "A whole physical server." },
});
export const GpuVendorEnum = documentedEnum("GpuVendor", "The company that makes the GPU.", {
  NVIDIA: { description: "NVIDIA." },
  AMD: { description: "AMD (Instinct, Radeon)." },
  INTEL: { description: "Intel (Gaudi, Data Center GPU)." },
  GOOGLE: { description: "Google (TPU)." },
});
export const ProviderKindEnum = documentedEnum("ProviderKind", "What kind of cloud a provider is.", {
  MARKETPLACE: { description: "Many independent hosts behind one API (RunPod, Vast.ai, TensorDock)." },
  NEOCLOUD: { description: "A GPU-first cloud (Lambda, Shadeform, Prime Intellect)." },
  HYPERSCALER: { description: "AWS, Google Cloud, Azure." },
});
export const HealthStatusEnum = documentedEnum("HealthStatus", "Health of a provider's API as seen by our ingestion.", {
  UNKNOWN: { description: "Not polled yet." },
  HEALTHY: { description: "The last poll succeeded." },
  DEGRADED: { description: "Polls succeed slowly or partially." },
  DOWN: { description: "The last polls failed." },
});
export const SortDirectionEnum = documentedEnum("SortDirection", "Sort direction.", {
  ASC: { description: "Smallest first." },
  DESC: { description: "Largest first." },
});

export const PrecisionEnum = builder.enumType("Precision", {
  description: "Number format of model weights (or of the KV cache).",
  values: {
    FP16: { description: "16-bit float, 2 bytes per parameter." },
    BF16: { description: "bfloat16, 2 bytes per parameter." },
    FP8: { description: "8-bit float, 1 byte per parameter; runs at the GPU's 8-bit tensor rate." },
    INT8: { description: "8-bit integer, 1 byte per parameter; runs at the GPU's 8-bit tensor rate." },
    INT4: { description: "4-bit integer, half a byte per parameter; computes at the FP16 rate." },
  } satisfies Record<Precision, { description: string }>,
});


export const ComplianceTagEnum = documentedEnum<ComplianceTag>(
  "ComplianceTag",
  "An attestation a provider holds, as GPUBroker records it with its source (Provider.compliance). Filter offers by the tags of their provider with `complianceTags: { all: [...] }`.",
  Object.fromEntries(Object.entries(COMPLIANCE_TAG_DESCRIPTIONS).map(([tag, description]) => [tag, { description }])) as Described<ComplianceTag>,
);
