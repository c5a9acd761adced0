-- CreateTable
CREATE TABLE "ProviderHourStat" (
    "providerId" INTEGER NOT NULL,
    "hour" TIMESTAMP(3) NOT NULL,
    "priceChanges" INTEGER NOT NULL,
    "changeRatioSum" DOUBLE PRECISION NOT NULL,
    "changeRatioSquaredDeviations" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "ProviderHourStat_pkey" PRIMARY KEY ("providerId","hour")
);

-- AddForeignKey
ALTER TABLE "ProviderHourStat" ADD CONSTRAINT "ProviderHourStat_providerId_fkey" FOREIGN KEY ("providerId") REFERENCES "Provider"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- ---------------------------------------------------------------- Invalidation
-- A row summarises the hour's raw points as they were when the ingestion leader wrote it (under a SHARE
-- lock on PricePoint, so no write was in flight). Whatever changes those points afterwards deletes it, and
-- readers fall back to the points of that hour until the leader writes it again:
--   * an insert (a backdated point, or a point of the current hour: then there is no row yet),
--   * the ratio repair of the after-insert trigger (an UPDATE of "changeRatio", possibly in another hour),
--   * a delete (the retention roll-up moving the hour to PriceRollup, an offer deleted with its history),
--   * TRUNCATE.
-- Statement-level, with transition tables: one DELETE per statement, whatever the number of rows.
CREATE FUNCTION "ProviderHourStat_forget"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
    DELETE FROM "ProviderHourStat" s USING (SELECT DISTINCT "providerId", date_trunc('hour', "recordedAt") AS hour FROM changed_new) c
    WHERE s."providerId" = c."providerId" AND s.hour = c.hour;
  END IF;
  IF TG_OP = 'DELETE' OR TG_OP = 'UPDATE' THEN
    DELETE FROM "ProviderHourStat" s USING (SELECT DISTINCT "providerId", date_trunc('hour', "recordedAt") AS hour FROM changed_old) c
    WHERE s."providerId" = c."providerId" AND s.hour = c.hour;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "ProviderHourStat_forget_insert" AFTER INSERT ON "PricePoint"
  REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION "ProviderHourStat_forget"();
CREATE TRIGGER "ProviderHourStat_forget_update" AFTER UPDATE ON "PricePoint"
  REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION "ProviderHourStat_forget"();
CREATE TRIGGER "ProviderHourStat_forget_delete" AFTER DELETE ON "PricePoint"
  REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION "ProviderHourStat_forget"();

CREATE FUNCTION "ProviderHourStat_forget_all"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "ProviderHourStat";
  RETURN NULL;
END $$;

CREATE TRIGGER "ProviderHourStat_forget_truncate" AFTER TRUNCATE ON "PricePoint"
  FOR EACH STATEMENT EXECUTE FUNCTION "ProviderHourStat_forget_all"();
