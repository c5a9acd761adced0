-- CreateTable
CREATE TABLE "PriceRollup" (
    "offerId" INTEGER NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "providerId" INTEGER,
    "points" INTEGER NOT NULL,
    "onDemandMin" DECIMAL(12,4) NOT NULL,
    "onDemandMax" DECIMAL(12,4) NOT NULL,
    "onDemandSum" DECIMAL NOT NULL,
    "firstRecordedAt" TIMESTAMP(3) NOT NULL,
    "lastRecordedAt" TIMESTAMP(3) NOT NULL,
    "lastOnDemandPrice" DECIMAL(12,4) NOT NULL,
    "lastSpotPrice" DECIMAL(12,4),
    "lastAvailability" "Availability" NOT NULL,
    "priceChanges" INTEGER NOT NULL,
    "changeRatioSum" DOUBLE PRECISION NOT NULL,
    "changeRatioSquaredDeviations" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "PriceRollup_pkey" PRIMARY KEY ("offerId","hour")
);

-- CreateIndex
CREATE INDEX "PriceRollup_hour_idx" ON "PriceRollup"("hour");

-- CreateIndex
CREATE INDEX "PriceRollup_providerId_hour_idx" ON "PriceRollup"("providerId", "hour");

-- AddForeignKey
ALTER TABLE "PriceRollup" ADD CONSTRAINT "PriceRollup_offerId_fkey" FOREIGN KEY ("offerId") REFERENCES "GpuOffer"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- ---------------------------------------------------------------- The history as its readers see it
-- Raw points for the raw period, and for each rolled hour its last point (src/infra/price-retention.ts).
-- "Price as of t" is the latest of the two probes, so it is exact for every t that no rolled hour
-- straddles; WindowPrice rows (price as of the anchor, time of the next point) read the same history
-- as src/infra/price-windows.ts priceAsOf does. RETURNS TABLE, as before, so the planner can inline it.
CREATE OR REPLACE FUNCTION "WindowPrice_asOf"(offer integer, anchor timestamp(3))
RETURNS TABLE (price numeric, "nextAt" timestamp(3))
LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT (SELECT h.price FROM (
            (SELECT pp."onDemandPrice" AS price, pp."recordedAt" AS at FROM "PricePoint" pp
             WHERE pp."offerId" = offer AND pp."recordedAt" <= anchor ORDER BY pp."recordedAt" DESC LIMIT 1)
            UNION ALL
            (SELECT r."lastOnDemandPrice", r."lastRecordedAt" FROM "PriceRollup" r
             WHERE r."offerId" = offer AND r.hour <= anchor AND r."lastRecordedAt" <= anchor ORDER BY r.hour DESC LIMIT 1)
          ) h ORDER BY h.at DESC LIMIT 1),
         least((SELECT min(pp."recordedAt") FROM "PricePoint" pp WHERE pp."offerId" = offer AND pp."recordedAt" > anchor),
               (SELECT r."lastRecordedAt" FROM "PriceRollup" r
                WHERE r."offerId" = offer AND r.hour > anchor - interval '1 hour' AND r."lastRecordedAt" > anchor ORDER BY r.hour LIMIT 1))
$$;
