// The catalog's reference data: providers (by slug) and GPU models (by canonical name or any
// provider spelling, through the one cached name resolver). Public: every actor may read them.
import type { GpuModel, PrismaClient, Provider } from "../generated/prisma/client.ts";
import { notFound } from "../errors.ts";
import { resolveGpuModel } from "../infra/names.ts";
import { complianceOf } from "../infra/compliance.ts";
import type { ComplianceAttestation } from "../domain/catalog/compliance.ts";
import type { Actor } from "./actor.ts";

export function createCatalogService({ prisma }: { prisma: PrismaClient }) {
  return {
    /** Every provider we list, by slug. */
    providers(_actor: Actor): Promise<Provider[]> {
      return prisma.provider.findMany({ orderBy: { slug: "asc" } });
    },

    /** One provider by slug (case and blanks ignored); unknown slugs are NOT_FOUND. */
    async provider(input: { slug: string }, _actor: Actor): Promise<Provider> {
      const provider = await prisma.provider.findUnique({ where: { slug: input.slug.trim().toLowerCase() } });
      if (!provider) throw notFound(`No provider has the slug "${input.slug}". The providers query lists them all.`, { slug: input.slug });
      return provider;
    },

    /**
     * The compliance attestations of a provider that the provider's row holds, each with the page that states it
     * and when that was checked (data/provider-compliance.json).
     */
    compliance(provider: Pick<Provider, "slug" | "complianceTags">, _actor: Actor): ComplianceAttestation[] {
      return complianceOf(provider.slug).filter((a) => provider.complianceTags.includes(a.tag));
    },

    /** Every GPU model we know, sorted by vendor then name. */
    gpuModels(_actor: Actor): Promise<GpuModel[]> {
      return prisma.gpuModel.findMany({ orderBy: [{ vendor: "asc" }, { name: "asc" }] });
    },

    /** One GPU model by canonical name or any provider spelling ("a100 80gb"); unknown ones are NOT_FOUND. */
    async gpuModel(input: { name: string }, _actor: Actor): Promise<GpuModel> {
      const resolved = await resolveGpuModel(prisma, input.name);
      const model = resolved ? await prisma.gpuModel.findUnique({ where: { id: resolved.id } }) : null;
      if (!model) throw notFound(`No GPU model matches "${input.name}". The gpuModels query lists every known model.`);
      return model;
    },
  };
}
