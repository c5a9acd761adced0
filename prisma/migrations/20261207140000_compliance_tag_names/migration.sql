-- Compliance tags are now GraphQL enum names (ComplianceTag): PCI-DSS → PCI_DSS, FedRAMP → FEDRAMP.
-- Providers listed in data/provider-compliance.json are set from that file at every start as well.
UPDATE "Provider"
SET "complianceTags" = array_replace(array_replace("complianceTags", 'PCI-DSS', 'PCI_DSS'), 'FedRAMP', 'FEDRAMP')
WHERE "complianceTags" && ARRAY['PCI-DSS', 'FedRAMP']::text[];
