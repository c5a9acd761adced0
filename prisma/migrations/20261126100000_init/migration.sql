-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "ProviderKind" AS ENUM ('MARKETPLACE', 'NEOCLOUD', 'HYPERSCALER');

-- CreateEnum
CREATE TYPE "HealthStatus" AS ENUM ('UNKNOWN', 'HEALTHY', 'DEGRADED', 'DOWN');

-- CreateEnum
CREATE TYPE "GpuVendor" AS ENUM ('NVIDIA', 'AMD', 'INTEL', 'GOOGLE');

-- CreateEnum
CREATE TYPE "Availability" AS ENUM ('AVAILABLE', 'LIMITED', 'UNAVAILABLE', 'UNKNOWN');

-- CreateEnum
CREATE TYPE "Interconnect" AS ENUM ('PCIE', 'SXM', 'NVLINK');

-- CreateEnum
CREATE TYPE "Deployment" AS ENUM ('VM', 'CONTAINER', 'BARE_METAL');

-- CreateTable
CREATE TABLE "Provider" (
    "id" SERIAL NOT NULL,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "kind" "ProviderKind" NOT NULL,
    "apiBaseUrl" TEXT,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "healthStatus" "HealthStatus" NOT NULL DEFAULT 'UNKNOWN',
    "lastSuccessAt" TIMESTAMP(3),
    "lastErrorAt" TIMESTAMP(3),
    "lastError" TEXT,
    "latencyMs" INTEGER,
    "complianceTags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "reliabilityScore" DECIMAL(5,4),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Provider_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GpuModel" (
    "id" SERIAL NOT NULL,
    "name" TEXT NOT NULL,
    "vendor" "GpuVendor" NOT NULL,
    "architecture" TEXT NOT NULL,
    "vramGb" INTEGER NOT NULL,
    "memoryBandwidthGbps" INTEGER NOT NULL,
    "fp16Tflops" DECIMAL(8,1) NOT NULL,
    "fp8Tflops" DECIMAL(8,1),
    "fp32Tflops" DECIMAL(8,1) NOT NULL,
    "formFactor" TEXT NOT NULL,

    CONSTRAINT "GpuModel_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "GpuOffer" (
    "id" SERIAL NOT NULL,
    "providerId" INTEGER NOT NULL,
    "externalId" TEXT NOT NULL,
    "instanceType" TEXT NOT NULL,
    "gpuModelId" INTEGER,
    "gpuName" TEXT NOT NULL,
    "gpuCount" INTEGER NOT NULL,
    "vramPerGpuGb" DECIMAL(8,2) NOT NULL,
    "vramTotalGb" DECIMAL(10,2) NOT NULL,
    "vcpus" INTEGER,
    "ramGb" DECIMAL(10,2),
    "storageGb" DECIMAL(12,2),
    "region" TEXT NOT NULL,
    "zone" TEXT,
    "country" CHAR(2),
    "onDemandPrice" DECIMAL(12,4) NOT NULL,
    "spotPrice" DECIMAL(12,4),
    "pricePerGpuHour" DECIMAL(12,4) NOT NULL,
    "spotPricePerGpuHour" DECIMAL(12,4),
    "currency" CHAR(3) NOT NULL DEFAULT 'USD',
    "availability" "Availability" NOT NULL DEFAULT 'UNKNOWN',
    "interconnect" "Interconnect",
    "networkGbps" DECIMAL(8,1),
    "deployment" "Deployment",
    "firstSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "active" BOOLEAN NOT NULL DEFAULT true,

    CONSTRAINT "GpuOffer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PricePoint" (
    "id" BIGSERIAL NOT NULL,
    "offerId" INTEGER NOT NULL,
    "onDemandPrice" DECIMAL(12,4) NOT NULL,
    "spotPrice" DECIMAL(12,4),
    "availability" "Availability" NOT NULL,
    "recordedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PricePoint_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Provider_slug_key" ON "Provider"("slug");

-- CreateIndex
CREATE UNIQUE INDEX "GpuModel_name_key" ON "GpuModel"("name");

-- CreateIndex
CREATE INDEX "GpuOffer_active_pricePerGpuHour_id_idx" ON "GpuOffer"("active", "pricePerGpuHour", "id");

-- CreateIndex
CREATE INDEX "GpuOffer_active_onDemandPrice_id_idx" ON "GpuOffer"("active", "onDemandPrice", "id");

-- CreateIndex
CREATE INDEX "GpuOffer_gpuModelId_active_pricePerGpuHour_id_idx" ON "GpuOffer"("gpuModelId", "active", "pricePerGpuHour", "id");

-- CreateIndex
CREATE INDEX "GpuOffer_providerId_active_idx" ON "GpuOffer"("providerId", "active");

-- CreateIndex
CREATE INDEX "GpuOffer_region_idx" ON "GpuOffer"("region");

-- CreateIndex
CREATE INDEX "GpuOffer_country_idx" ON "GpuOffer"("country");

-- CreateIndex
CREATE UNIQUE INDEX "GpuOffer_providerId_externalId_key" ON "GpuOffer"("providerId", "externalId");

-- CreateIndex
CREATE INDEX "PricePoint_offerId_recordedAt_idx" ON "PricePoint"("offerId", "recordedAt");

-- CreateIndex
CREATE INDEX "PricePoint_recordedAt_idx" ON "PricePoint"("recordedAt");

-- AddForeignKey
ALTER TABLE "GpuOffer" ADD CONSTRAINT "GpuOffer_providerId_fkey" FOREIGN KEY ("providerId") REFERENCES "Provider"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "GpuOffer" ADD CONSTRAINT "GpuOffer_gpuModelId_fkey" FOREIGN KEY ("gpuModelId") REFERENCES "GpuModel"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PricePoint" ADD CONSTRAINT "PricePoint_offerId_fkey" FOREIGN KEY ("offerId") REFERENCES "GpuOffer"("id") ON DELETE CASCADE ON UPDATE CASCADE;
