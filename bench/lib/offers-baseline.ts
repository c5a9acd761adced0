// The offers baseline: a bare node:http server answering `offers` page 1 and page 2 with one pg query and
// JSON.stringify, byte for byte the JSON GPUBroker answers (checked by bench/offers.ts before it measures).
// Its own module so that a server process (./server-child.ts) can run it.
import type pg from "pg";

export const PAGE_SIZE = 50;

export interface BenchFilter { gpuModels: string[]; gpuCount: { min: number }; pricePerGpu: { max: string } }
export interface Variables { filter: BenchFilter; after?: string }

// The baseline's one statement: the count and the page (joined to provider and model names) together.
// The WHERE clause is the one src/infra/offers.ts compiles for this filter, so both do the same database work.
// The model name is resolved inside the statement (GPUBroker resolves it from a cache), and compared
// with `=` like GPUBroker's SQL, so PostgreSQL picks the same (gpuModelId, active, price, id) index.
const BASELINE_WHERE = `o.active AND o."gpuModelId" = (SELECT id FROM "GpuModel" WHERE name = ($1::text[])[1])
  AND o."gpuCount" >= $2::numeric AND o."pricePerGpuHour" <= $3::numeric`;
const baselineSql = (after: boolean) => `
  SELECT c.total, page.* FROM (SELECT count(*)::int AS total FROM "GpuOffer" o WHERE ${BASELINE_WHERE}) c
  LEFT JOIN LATERAL (
    SELECT o.id, o."instanceType", o."gpuCount", o."vramPerGpuGb", o.vcpus, o."ramGb", o.region, o.availability,
           o."onDemandPrice", o."spotPrice", o."pricePerGpuHour", o."lastSeenAt" AT TIME ZONE 'UTC' AS "lastSeenAt",
           p.name AS provider, m.name AS "gpuModel"
    FROM "GpuOffer" o JOIN "Provider" p ON p.id = o."providerId" LEFT JOIN "GpuModel" m ON m.id = o."gpuModelId"
    WHERE ${BASELINE_WHERE}${after ? ` AND (o."pricePerGpuHour", o.id) > ($4::numeric, $5::int)` : ""}
    ORDER BY o."pricePerGpuHour", o.id LIMIT ${PAGE_SIZE + 1}
  ) page ON true`;
const BASELINE_SQL = { first: baselineSql(false), after: baselineSql(true) };

interface BaselineRow {
  total: number; id: number | null; instanceType: string; gpuCount: number; vramPerGpuGb: string; vcpus: number | null;
  ramGb: string | null; region: string; availability: string; onDemandPrice: string; spotPrice: string | null;
  pricePerGpuHour: string; lastSeenAt: Date; provider: string; gpuModel: string | null;
}

// The same wire formats GPUBroker uses: Decimal#toString in cursors, Money with ≥ 2 decimals, base64 global IDs.
const decimal = (s: string) => (s.includes(".") ? s.replace(/\.?0+$/, "") : s);
const money = (s: string) => { const [int, frac = ""] = decimal(s).split("."); return `${int}.${frac.padEnd(2, "0")}`; };
const cursor = (r: BaselineRow) => Buffer.from(JSON.stringify(["PRICE_PER_GPU", decimal(r.pricePerGpuHour), r.id])).toString("base64url");

export function baselineAnswer(pool: pg.Pool) {
  return async (body: string) => {
    const { filter, after } = (JSON.parse(body) as { variables: Variables }).variables;
    const params: unknown[] = [filter.gpuModels, String(filter.gpuCount.min), filter.pricePerGpu.max];
    if (after) {
      const [, value, id] = JSON.parse(Buffer.from(after, "base64url").toString("utf8")) as [string, string, number];
      params.push(value, id);
    }
    const { rows } = await pool.query<BaselineRow>(after ? BASELINE_SQL.after : BASELINE_SQL.first, params);
    const offers = rows.filter((r) => r.id !== null);
    const page = offers.slice(0, PAGE_SIZE);
    return { data: { offers: {
      totalCount: rows[0]!.total,
      pageInfo: { hasNextPage: offers.length > PAGE_SIZE, endCursor: page.length ? cursor(page.at(-1)!) : null },
      edges: page.map((r) => ({ node: {
        id: Buffer.from(`GpuOffer:${r.id}`).toString("base64"), instanceType: r.instanceType, gpuCount: r.gpuCount,
        vramPerGpuGb: Number(r.vramPerGpuGb), vcpus: r.vcpus, ramGb: r.ramGb === null ? null : Number(r.ramGb),
        region: r.region, availability: r.availability, onDemandPrice: money(r.onDemandPrice),
        spotPrice: r.spotPrice === null ? null : money(r.spotPrice), pricePerGpuHour: money(r.pricePerGpuHour),
        lastSeenAt: r.lastSeenAt.toISOString(), provider: { name: r.provider }, gpuModel: r.gpuModel === null ? null : { name: r.gpuModel },
      } })),
    } } };
  };
}

