-- DropIndex
DROP INDEX "GpuOffer_providerId_active_idx";

-- CreateIndex
CREATE INDEX "GpuOffer_providerId_active_pricePerGpuHour_id_idx" ON "GpuOffer"("providerId", "active", "pricePerGpuHour", "id");
