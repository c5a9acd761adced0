-- CreateTable
CREATE TABLE "ProviderIntegration" (
    "id" SERIAL NOT NULL,
    "userId" INTEGER NOT NULL,
    "providerId" INTEGER NOT NULL,
    "label" TEXT,
    "sealedKey" TEXT NOT NULL,
    "keyHint" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "lastTestedAt" TIMESTAMP(3),
    "lastTestOk" BOOLEAN,
    "lastTestStatus" INTEGER,
    "lastTestLatencyMs" INTEGER,
    "lastTestError" TEXT,

    CONSTRAINT "ProviderIntegration_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ProviderIntegration_userId_providerId_key" ON "ProviderIntegration"("userId", "providerId");

-- AddForeignKey
ALTER TABLE "ProviderIntegration" ADD CONSTRAINT "ProviderIntegration_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ProviderIntegration" ADD CONSTRAINT "ProviderIntegration_providerId_fkey" FOREIGN KEY ("providerId") REFERENCES "Provider"("id") ON DELETE CASCADE ON UPDATE CASCADE;
