-- CreateTable
CREATE TABLE "OutboxEvent" (
    "stream" TEXT NOT NULL,
    "seq" BIGINT NOT NULL,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("stream","seq")
);

-- CreateIndex
CREATE INDEX "OutboxEvent_createdAt_idx" ON "OutboxEvent"("createdAt");

-- CreateTable
CREATE TABLE "EventStream" (
    "name" TEXT NOT NULL,
    "seq" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "EventStream_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "EventRelay" (
    "stream" TEXT NOT NULL,
    "relayed" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "EventRelay_pkey" PRIMARY KEY ("stream")
);

-- The streams (src/infra/event-log.ts): writers bump "EventStream".seq under its row lock, so the rows must exist.
INSERT INTO "EventStream" ("name") VALUES ('market'), ('notification');
INSERT INTO "EventRelay" ("stream") VALUES ('market'), ('notification');
