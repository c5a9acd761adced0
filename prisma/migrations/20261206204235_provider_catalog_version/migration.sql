-- AlterTable
ALTER TABLE "Provider" ADD COLUMN     "catalogVersion" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "staleSnapshots" INTEGER NOT NULL DEFAULT 0;
