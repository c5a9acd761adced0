-- CreateEnum
CREATE TYPE "PriceWindow" AS ENUM ('HOURS_24', 'DAYS_7', 'DAYS_30');

-- AlterTable
ALTER TABLE "PricePoint" ADD COLUMN     "changeRatio" DOUBLE PRECISION,
ADD COLUMN     "providerId" INTEGER;

-- CreateTable
CREATE TABLE "WindowAnchor" (
    "window" "PriceWindow" NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "rolledAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "WindowAnchor_pkey" PRIMARY KEY ("window")
);

-- CreateTable
CREATE TABLE "WindowPrice" (
    "offerId" INTEGER NOT NULL,
    "window" "PriceWindow" NOT NULL,
    "price" DECIMAL(12,4),
    "nextAt" TIMESTAMP(3),
    "change" DOUBLE PRECISION,
    "gpuModelId" INTEGER,
    "gpuCount" INTEGER NOT NULL,
    "nowPrice" DECIMAL(12,4) NOT NULL,
    "active" BOOLEAN NOT NULL,

    CONSTRAINT "WindowPrice_pkey" PRIMARY KEY ("offerId","window")
);

-- CreateIndex
CREATE INDEX "WindowPrice_window_change_offerId_idx" ON "WindowPrice"("window", "change", "offerId");

-- CreateIndex
CREATE INDEX "WindowPrice_window_nextAt_idx" ON "WindowPrice"("window", "nextAt");

-- CreateIndex
CREATE INDEX "GpuOffer_gpuModelId_providerId_active_pricePerGpuHour_idx" ON "GpuOffer"("gpuModelId", "providerId", "active", "pricePerGpuHour");

-- CreateIndex
CREATE INDEX "PricePoint_providerId_recordedAt_changeRatio_idx" ON "PricePoint"("providerId", "recordedAt", "changeRatio");

-- AddForeignKey
ALTER TABLE "WindowPrice" ADD CONSTRAINT "WindowPrice_offerId_fkey" FOREIGN KEY ("offerId") REFERENCES "GpuOffer"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- ---------------------------------------------------------------- Derived columns and their triggers
-- PricePoint is append-only history. Two triggers keep what is derived from it exact whoever inserts
-- (catalog sync, imports, tests) and in whatever order:
--   * "providerId" and "changeRatio" of each new point (volatility reads them through one index range);
--   * "WindowPrice"."nextAt" (the as-of shortcut of the KPI queries, see src/infra/price-windows.ts).

-- Backfill the history written before this migration.
UPDATE "PricePoint" pp SET "providerId" = x."providerId", "changeRatio" = x.r
FROM (
  SELECT p.id, o."providerId",
         p."onDemandPrice"::float8 / NULLIF(lag(p."onDemandPrice"::float8) OVER (PARTITION BY p."offerId" ORDER BY p."recordedAt", p.id), 0) - 1 AS r
  FROM "PricePoint" p JOIN "GpuOffer" o ON o.id = p."offerId"
) x
WHERE pp.id = x.id;

-- Per row, before insert: the provider, and the change against the offer's previous point by
-- (recordedAt, id). Rows inserted earlier by the same statement are visible here, so a multi-row
-- insert in time order gets every ratio right at once.
CREATE FUNCTION "PricePoint_fill"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  prev numeric;
BEGIN
  IF NEW."providerId" IS NULL THEN
    SELECT o."providerId" INTO NEW."providerId" FROM "GpuOffer" o WHERE o.id = NEW."offerId";
  END IF;
  SELECT pp."onDemandPrice" INTO prev FROM "PricePoint" pp
  WHERE pp."offerId" = NEW."offerId" AND pp."recordedAt" <= NEW."recordedAt" AND pp.id <> NEW.id
  ORDER BY pp."recordedAt" DESC, pp.id DESC LIMIT 1;
  NEW."changeRatio" := NEW."onDemandPrice"::float8 / NULLIF(prev::float8, 0) - 1;
  RETURN NEW;
END $$;

CREATE TRIGGER "PricePoint_fill" BEFORE INSERT ON "PricePoint"
  FOR EACH ROW EXECUTE FUNCTION "PricePoint_fill"();

-- An offer's price as of an anchor (null: no point by then) and the time of its first point after it
-- (null: none). RETURNS TABLE so the planner can inline it.
CREATE FUNCTION "WindowPrice_asOf"(offer integer, anchor timestamp(3))
RETURNS TABLE (price numeric, "nextAt" timestamp(3))
LANGUAGE sql STABLE ROWS 1 AS $$
  SELECT (SELECT pp."onDemandPrice" FROM "PricePoint" pp
          WHERE pp."offerId" = offer AND pp."recordedAt" <= anchor ORDER BY pp."recordedAt" DESC LIMIT 1),
         (SELECT min(pp."recordedAt") FROM "PricePoint" pp WHERE pp."offerId" = offer AND pp."recordedAt" > anchor)
$$;

-- The WindowPrice rows of some offers for every anchored window, from the history and the offer rows
-- (the change is the listed price against the price as of the anchor).
CREATE VIEW "WindowPrice_fresh" AS
  SELECT o.id AS "offerId", a."window", r.price, r."nextAt",
         o."onDemandPrice"::float8 / NULLIF(r.price::float8, 0) - 1 AS change,
         o."gpuModelId", o."gpuCount", o."onDemandPrice" AS "nowPrice", o.active
  FROM "GpuOffer" o CROSS JOIN "WindowAnchor" a CROSS JOIN LATERAL "WindowPrice_asOf"(o.id, a."at") r;

-- Per statement, after insert:
-- 1. A point that arrived out of order changes its successor's ratio: recompute the ratios from each
--    offer's earliest new point on (writing only those that differ; in-order inserts write nothing).
-- 2. Every offer with points has one WindowPrice row per anchored window: rewrite the rows of the offers
--    that got points (a point after the anchor may be `nextAt`, a backdated one may change the price as
--    of the anchor).
CREATE FUNCTION "PricePoint_after_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH first AS (
    SELECT "offerId", min("recordedAt") AS since FROM new_points GROUP BY 1
  ), tail AS (
    SELECT p.id, p."recordedAt" >= f.since AS affected,
           p."onDemandPrice"::float8 / NULLIF(lag(p."onDemandPrice"::float8) OVER (PARTITION BY p."offerId" ORDER BY p."recordedAt", p.id), 0) - 1 AS r
    FROM first f JOIN "PricePoint" p ON p."offerId" = f."offerId" AND p."recordedAt" >= coalesce(
      (SELECT max(q."recordedAt") FROM "PricePoint" q WHERE q."offerId" = f."offerId" AND q."recordedAt" < f.since), f.since)
  )
  UPDATE "PricePoint" pp SET "changeRatio" = t.r
  FROM tail t WHERE pp.id = t.id AND t.affected AND pp."changeRatio" IS DISTINCT FROM t.r;

  INSERT INTO "WindowPrice" ("offerId", "window", price, "nextAt", change, "gpuModelId", "gpuCount", "nowPrice", active)
  SELECT f.* FROM "WindowPrice_fresh" f WHERE f."offerId" IN (SELECT "offerId" FROM new_points)
  ON CONFLICT ("offerId", "window") DO UPDATE SET price = EXCLUDED.price, "nextAt" = EXCLUDED."nextAt", change = EXCLUDED.change,
    "gpuModelId" = EXCLUDED."gpuModelId", "gpuCount" = EXCLUDED."gpuCount", "nowPrice" = EXCLUDED."nowPrice", active = EXCLUDED.active;
  RETURN NULL;
END $$;

CREATE TRIGGER "PricePoint_after_insert" AFTER INSERT ON "PricePoint"
  REFERENCING NEW TABLE AS new_points FOR EACH STATEMENT EXECUTE FUNCTION "PricePoint_after_insert"();

-- WindowPrice mirrors what the KPIs read of each offer (model, GPU count, listed price, active), so the
-- model medians scan one table: an offer update rewrites its rows' copies and change.
CREATE FUNCTION "GpuOffer_after_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "WindowPrice" wp SET "gpuModelId" = n."gpuModelId", "gpuCount" = n."gpuCount", "nowPrice" = n."onDemandPrice", active = n.active,
    change = n."onDemandPrice"::float8 / NULLIF(wp.price::float8, 0) - 1
  FROM new_offers n JOIN old_offers o ON o.id = n.id
  WHERE wp."offerId" = n.id
    AND (o."gpuModelId", o."gpuCount", o."onDemandPrice", o.active) IS DISTINCT FROM (n."gpuModelId", n."gpuCount", n."onDemandPrice", n.active);
  RETURN NULL;
END $$;

CREATE TRIGGER "GpuOffer_after_update" AFTER UPDATE ON "GpuOffer"
  REFERENCING OLD TABLE AS old_offers NEW TABLE AS new_offers FOR EACH STATEMENT EXECUTE FUNCTION "GpuOffer_after_update"();

-- History is not rewritten: only the ratio repair above updates a point.
CREATE FUNCTION "PricePoint_immutable"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'PricePoint is append-only: % of offerId, price, availability or recordedAt is not allowed', TG_OP;
END $$;

CREATE TRIGGER "PricePoint_immutable" BEFORE UPDATE OF "offerId", "providerId", "onDemandPrice", "spotPrice", availability, "recordedAt" ON "PricePoint"
  FOR EACH ROW EXECUTE FUNCTION "PricePoint_immutable"();
