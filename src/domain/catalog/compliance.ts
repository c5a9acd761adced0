// Compliance tags: the attestations a provider can hold that the offer filter, the facets and rankOffers
// understand. Which provider holds which, with the page that says so, is data (data/provider-compliance.json,
// loaded by src/infra/compliance.ts).

export const COMPLIANCE_TAGS = ["SOC2", "ISO27001", "HIPAA", "PCI_DSS", "FEDRAMP", "GDPR"] as const;
export type ComplianceTag = (typeof COMPLIANCE_TAGS)[number];

export const COMPLIANCE_TAG_DESCRIPTIONS: Readonly<Record<ComplianceTag, string>> = {
  SOC2: "An AICPA SOC 2 Type II report.",
  ISO27001: "An ISO/IEC 27001 certificate for its information-security management.",
  HIPAA: "Signs a HIPAA Business Associate Agreement for covered services.",
  PCI_DSS: "A PCI DSS service-provider attestation.",
  FEDRAMP: "A FedRAMP authorisation for some of its services.",
  GDPR: "GDPR data-processing terms (a data processing agreement).",
};

/**
 * The ids of the providers holding every tag, in the given order, and only those in `within` when given: what a
 * `complianceTags: { all }` filter narrows the providers to (none: the filter matches no offer).
 */
export function providersHoldingAll(
  tags: readonly string[], providers: readonly { id: number; tags: readonly string[] }[], within?: readonly number[] | null,
): number[] {
  const inside = within ? new Set(within) : null;
  return providers.filter((p) => tags.every((t) => p.tags.includes(t)) && (!inside || inside.has(p.id))).map((p) => p.id);
}

export const isComplianceTag = (tag: string): tag is ComplianceTag => (COMPLIANCE_TAGS as readonly string[]).includes(tag);

/** One attestation as the data file records it: the tag, the provider's page that states it, and when that was checked. */
export interface ComplianceAttestation {
  tag: ComplianceTag;
  source: string;
  /** YYYY-MM-DD. */
  checked: string;
}
