// Provider compliance attestations from data/provider-compliance.json (each with the provider's page that
// states it and when it was checked): the tags a new Provider row gets, and syncProviderCompliance, which
// brings existing rows in line with the file at startup (the file is the source of truth).
import { readFileSync } from "node:fs";
import { z } from "zod";
import { COMPLIANCE_TAGS, type ComplianceAttestation, type ComplianceTag } from "../domain/catalog/compliance.ts";
import type { PrismaClient } from "../generated/prisma/client.ts";
import { projectPath } from "./project-root.ts";

export const COMPLIANCE_DATA_PATH = projectPath("data", "provider-compliance.json");

const fileSchema = z.object({
  providers: z.record(
    z.string().regex(/^[a-z0-9-]+$/),
    z.array(z.object({
      tag: z.enum(COMPLIANCE_TAGS),
      source: z.string().url().startsWith("https://"),
      checked: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    }).strict()).superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((a, i) => {
        if (seen.has(a.tag)) ctx.addIssue({ code: "custom", path: [i, "tag"], message: `${a.tag} listed twice` });
        seen.add(a.tag);
      });
    }),
  ),
});

/** The file's attestations by provider slug (validated: a bad file stops the process at start, not a query). */
export function loadComplianceData(path = COMPLIANCE_DATA_PATH): ReadonlyMap<string, readonly ComplianceAttestation[]> {
  const parsed = fileSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new Error(`${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return new Map(Object.entries(parsed.data.providers));
}

let data: ReadonlyMap<string, readonly ComplianceAttestation[]> | undefined;
const complianceData = () => (data ??= loadComplianceData());

/** The provider's attestations (none when the file does not list it). */
export function complianceOf(slug: string): readonly ComplianceAttestation[] {
  return complianceData().get(slug) ?? [];
}

/** The provider's tags, in the file's order. */
export function complianceTagsOf(slug: string): ComplianceTag[] {
  return complianceOf(slug).map((a) => a.tag);
}

/**
 * Sets complianceTags of every provider the file lists to the file's tags, where they differ, and bumps
 * those providers' catalogVersion so cached facets and rankings (kept per catalog epoch) are read again.
 * Idempotent: every node may run it at start. Returns the slugs it changed.
 */
export async function syncProviderCompliance(prisma: PrismaClient): Promise<string[]> {
  const changed: string[] = [];
  for (const [slug, list] of complianceData()) {
    const tags = list.map((a) => a.tag);
    const rows = await prisma.$queryRaw<{ slug: string }[]>`
      UPDATE "Provider" SET "complianceTags" = ${tags}::text[], "catalogVersion" = "catalogVersion" + 1
      WHERE slug = ${slug} AND "complianceTags" IS DISTINCT FROM ${tags}::text[]
      RETURNING slug`;
    changed.push(...rows.map((r) => r.slug));
  }
  return changed;
}
