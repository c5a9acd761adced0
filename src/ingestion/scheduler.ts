// Ingestion: the leader polls each enabled provider on its own interval, applies the catalog with
// alert evaluation and the change events (price ticks, notifications) inside the import's
// transaction, wakes the event log after commit and records health.
// Leadership is a PostgreSQL session advisory lock held on a dedicated connection: it is released
// by the server the moment that connection (or the process) dies, so a follower can take over.
// The leader also rolls the KPI price windows forward once a minute (src/infra/price-windows.ts) and
// then writes the volatility statistics of the hours completed since (src/infra/provider-hour-stats.ts),
// and rolls up price history older than PRICE_HISTORY_RAW_DAYS into hourly rows shortly after it takes the
// lead, then every hour (src/infra/price-retention.ts).
// A poll applies its snapshot only if no catalog was applied while it was fetching (catalog-sync.ts,
// basedOnVersion): otherwise it is stale, discarded, logged and counted in Provider.staleSnapshots.
// Logs: a poll that changed offers of a real provider is an info line; a poll that changed nothing, and
// every poll of the simulated demo market, is debug; failures and stale snapshots are warnings. Every
// `summaryMs` an info line sums up the polls, changes and failures per provider (none when idle).
import pg from "pg";
import type { Logger } from "pino";
import type { Notification, PrismaClient } from "../generated/prisma/client.ts";
import { PRICE_HISTORY_RAW_DAYS_DEFAULT } from "../config.ts";
import { rollPriceWindows } from "../infra/price-windows.ts";
import { fillProviderHourStats } from "../infra/provider-hour-stats.ts";
import { VOLATILITY_WINDOW, WINDOW_MS } from "../infra/kpi.ts";
import { rollUpPriceHistory } from "../infra/price-retention.ts";
import type { EventLog } from "../infra/event-log.ts";
import { SpanStatusCode } from "@opentelemetry/api";
import { tracer } from "../infra/tracer.ts";
import type { Metrics } from "../infra/metrics.ts";
import type { ProviderAdapter } from "./adapter.ts";
import { applyCatalog, catalogVersion, CatalogSyncError, type CatalogSyncSummary, type OfferChange } from "./catalog-sync.ts";
import { recordImport } from "./change-events.ts";
import { providerInfo } from "./registry.ts";
import { complianceTagsOf } from "../infra/compliance.ts";

// "gpbingst" as a 64-bit key.
export const INGESTION_LOCK_KEY = "7453565588261532532";

export interface IngestionOptions {
  prisma: PrismaClient;
  adapters: readonly ProviderAdapter[];
  /** Woken after each import that wrote events (they are written in the import's transaction either way). */
  events?: Pick<EventLog, "kick"> | null;
  /** PostgreSQL URL for the lock's own connection. Absent = embedded PGlite: one process, which leads. */
  databaseUrl?: string | null;
  lockKey?: string | bigint;
  log: Logger;
  /** How often a follower retries the lock and the leader checks its lock connection. Default 5000 ms. */
  lockRetryMs?: number;
  /** How often the leader looks for providers that are due. Default 1000 ms. */
  tickMs?: number;
  /** A successful poll whose fetch took longer than this is DEGRADED. Default 30000 ms. */
  slowMs?: number;
  /** How often the leader rolls the KPI price windows forward (0 = never). Default 60000 ms. */
  windowRollMs?: number;
  /** Days of price points kept raw; older whole hours are rolled up. Default PRICE_HISTORY_RAW_DAYS_DEFAULT (30). */
  priceHistoryRawDays?: number;
  /** How often the leader rolls up the price history (0 = never). Default 3600000 ms. */
  retentionMs?: number;
  /** Its first run, after taking the lead (not at once: the first polls and window roll go first). Default 60000 ms. */
  retentionDelayMs?: number;
  /** Poll durations, results, changes, time since each provider's last success and leadership. */
  metrics?: Metrics | undefined;
  /** How often an info line sums up the polls since the last one (nothing when there were none; 0 = never). Default 60000 ms. */
  summaryMs?: number;
}

/** What the periodic summary reports for one provider. */
export interface PollCounts {
  polls: number;
  /** Offers inserted, updated (reactivated included) or deactivated. */
  changes: number;
  errors: number;
  stale: number;
}

/** How one poll of one provider went. Provider failures are reported here, never thrown. */
export interface ProviderRun {
  slug: string;
  ok: boolean;
  startedAt: Date;
  /** Time the adapter took to fetch the catalog. */
  latencyMs: number;
  healthStatus: "HEALTHY" | "DEGRADED" | "DOWN";
  summary: CatalogSyncSummary | null;
  changes: number;
  notifications: number;
  skipped: number;
  error: string | null;
  /** The provider answered, but a catalog was applied while it did: its snapshot was discarded (ok, no summary). */
  stale: boolean;
}

export interface Ingestion {
  /** Starts competing for leadership; the leader polls until stop(). */
  start(): void;
  /** Stops polling, aborts fetches, waits for running imports and releases the lock. */
  stop(): Promise<void>;
  /** Polls one provider now (whether or not this process leads; imports of one provider are serialised by the database). */
  runProvider(slug: string): Promise<ProviderRun>;
  /** runProvider for the admin `refreshProvider` mutation: joins a poll already running in this process. */
  refreshNow(slug: string): Promise<ProviderRun>;
  hasAdapter(slug: string): boolean;
  readonly isLeader: boolean;
}

// More than this share of the provider's records skipped counts as a partial answer.
const SKIPPED_DEGRADED = 0.1;
/** How far back the volatility statistics per provider and hour are kept (providerKpis' window). */
const VOLATILITY_WINDOW_MS = WINDOW_MS[VOLATILITY_WINDOW];
const STOPPED = "stopped";

/** Offers a poll inserted, updated (reactivations included) or deactivated. */
const offersChanged = (run: ProviderRun) => run.summary ? run.summary.inserted + run.summary.updated + run.summary.deactivated : 0;

/** The demo market moves prices on every poll by design: its polls are steady-state noise, not news. */
const isSimulated = (adapter: ProviderAdapter) => (adapter as { simulated?: boolean }).simulated === true;

export function createIngestion(opts: IngestionOptions): Ingestion {
  const { prisma, log, metrics } = opts;
  const adapters = new Map(opts.adapters.map((a) => [a.slug, a]));
  const lockKey = String(opts.lockKey ?? INGESTION_LOCK_KEY);
  const lockRetryMs = opts.lockRetryMs ?? 5000;
  const tickMs = opts.tickMs ?? 1000;
  const slowMs = opts.slowMs ?? 30_000;
  const windowRollMs = opts.windowRollMs ?? 60_000;
  const rawDays = opts.priceHistoryRawDays ?? PRICE_HISTORY_RAW_DAYS_DEFAULT;
  const retentionMs = opts.retentionMs ?? 3_600_000;
  const retentionDelayMs = opts.retentionDelayMs ?? 60_000;
  const summaryMs = opts.summaryMs ?? 60_000;

  const running = new Map<string, Promise<ProviderRun>>();
  const aborts = new Set<AbortController>();
  let started = false;
  let leader = false;
  let lockClient: pg.Client | null = null;
  let lockTimer: NodeJS.Timeout | undefined;
  let tickTimer: NodeJS.Timeout | undefined;
  let lastRoll = 0;
  let rolling: Promise<void> | null = null;
  let nextRetention = 0;
  let retaining: Promise<void> | null = null;
  let counts = new Map<string, PollCounts>();
  let countsSince = Date.now();
  let summaryTimer: NodeJS.Timeout | undefined;

  /** One poll as one trace ("ingestion.poll"): the provider's HTTP calls, the import's SQL and the events it wrote. */
  function poll(slug: string): Promise<ProviderRun> {
    return tracer().startActiveSpan("ingestion.poll", { attributes: { "gpubroker.provider": slug } }, async (span) => {
      try {
        const run = await pollOnce(slug);
        span.setAttributes({ "gpubroker.ok": run.ok, "gpubroker.stale": run.stale, "gpubroker.changes": run.changes, "gpubroker.notifications": run.notifications });
        if (!run.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: run.error ?? "failed" });
        return run;
      } finally {
        span.end();
      }
    });
  }

  async function pollOnce(slug: string): Promise<ProviderRun> {
    const adapter = adapters.get(slug)!;
    const startedAt = new Date();
    const abort = new AbortController();
    aborts.add(abort);
    let t0 = performance.now();
    let latencyMs = 0;
    let run: ProviderRun;
    try {
      const basedOnVersion = await catalogVersion(prisma, slug);
      t0 = performance.now();
      const report = await adapter.fetchOffers({ signal: abort.signal });
      latencyMs = Math.round(performance.now() - t0);
      // An empty answer is far likelier a provider glitch than a sold-out cloud: keep the catalog.
      if (!report.offers.length) throw new Error(`returned no offers (${report.skipped} records skipped${report.skipReasons[0] ? `: ${report.skipReasons[0]}` : ""})`);
      let changes: OfferChange[] = [];
      let notifications: Notification[] = [];
      const summary = await applyCatalog(prisma, slug, report.offers, {
        now: startedAt,
        basedOnVersion,
        onChanges: async (tx, c) => { changes = c; notifications = await recordImport(tx, c, startedAt); },
      }).catch((err: unknown) => {
        if (!(err instanceof CatalogSyncError && err.code === "STALE_SNAPSHOT")) throw err;
        changes = [];
        notifications = []; // an earlier run of the transaction, rolled back, may have set them
        return null;
      });
      if (summary && changes.length) opts.events?.kick();
      if (!summary) log.warn({ provider: slug, basedOnVersion, latencyMs }, "stale provider snapshot discarded: a catalog was applied while it was fetched");
      const partial = report.skipped > SKIPPED_DEGRADED * (report.offers.length + report.skipped);
      run = {
        slug, ok: true, startedAt, latencyMs, healthStatus: partial || latencyMs > slowMs ? "DEGRADED" : "HEALTHY",
        summary, changes: changes.length, notifications: notifications.length, skipped: report.skipped, error: null, stale: !summary,
      };
    } catch (err) {
      latencyMs ||= Math.round(performance.now() - t0);
      const error = (err instanceof Error ? err.message : String(err)).slice(0, 500);
      run = { slug, ok: false, startedAt, latencyMs, healthStatus: "DOWN", summary: null, changes: 0, notifications: 0, skipped: 0, error, stale: false };
      log.warn({ provider: slug, err: error, latencyMs }, "provider poll failed");
    } finally {
      aborts.delete(abort);
    }
    await recordHealth(run).catch((err: unknown) => log.error({ provider: slug, err }, "could not record provider health"));
    countRun(run);
    if (run.ok && !run.stale) {
      const changed = offersChanged(run) > 0 && !isSimulated(adapter);
      log[changed ? "info" : "debug"]({ provider: slug, latencyMs, ...run.summary, notifications: run.notifications }, "provider polled");
    }
    return run;
  }

  function tally(run: ProviderRun) {
    const c = counts.get(run.slug) ?? { polls: 0, changes: 0, errors: 0, stale: 0 };
    c.polls++;
    c.changes += offersChanged(run);
    if (!run.ok) c.errors++;
    if (run.stale) c.stale++;
    counts.set(run.slug, c);
  }

  /** One info line for the polls since the last summary; nothing when there were none. */
  function summarize() {
    const providers = Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));
    const since = countsSince;
    counts = new Map();
    countsSince = Date.now();
    const all = Object.values(providers);
    if (!all.length) return;
    const sum = (k: keyof PollCounts) => all.reduce((n, c) => n + c[k], 0);
    const [polls, changes, errors] = [sum("polls"), sum("changes"), sum("errors")];
    log.info({ providers, seconds: Math.round((countsSince - since) / 1000) },
      `ingestion: ${polls} poll${polls === 1 ? "" : "s"} of ${all.length} provider${all.length === 1 ? "" : "s"}, ${changes} offer${changes === 1 ? "" : "s"} changed, ${errors} failed`);
  }

  function countRun(run: ProviderRun) {
    tally(run);
    if (!metrics) return;
    const provider = run.slug;
    metrics.ingestionPollDuration.observe({ provider }, run.latencyMs / 1000);
    metrics.ingestionPolls.inc({ provider, result: !run.ok ? "error" : run.stale ? "stale" : "ok" });
    if (run.changes) metrics.ingestionOffersChanged.inc({ provider }, run.changes);
    if (run.ok) metrics.ingestionSucceeded(provider, Date.now());
  }

  /** A new leader starts from the successes stored by the previous one, so a provider failing since then still shows its age. */
  async function loadLastSuccesses() {
    if (!metrics) return;
    const rows = await prisma.provider.findMany({ where: { slug: { in: [...adapters.keys()] }, lastSuccessAt: { not: null } }, select: { slug: true, lastSuccessAt: true } });
    for (const row of rows) metrics.ingestionSucceeded(row.slug, row.lastSuccessAt!);
  }

  async function recordHealth(run: ProviderRun) {
    const now = new Date();
    const common = { healthStatus: run.healthStatus, latencyMs: run.latencyMs, lastPolledAt: run.startedAt };
    const data = run.ok
      ? { ...common, lastSuccessAt: now, consecutiveFailures: 0 }
      : { ...common, lastErrorAt: now, lastError: run.error };
    const updated = await prisma.provider.updateMany({
      where: { slug: run.slug },
      data: run.ok ? { ...data, ...(run.stale ? { staleSnapshots: { increment: 1 } } : {}) } : { ...data, consecutiveFailures: { increment: 1 } },
    });
    const info = providerInfo(run.slug);
    // A provider that failed before its first import has no row yet: create it to hold the health.
    if (!updated.count && info) {
      await prisma.provider.upsert({
        where: { slug: run.slug },
        update: {},
        create: {
          slug: info.slug, name: info.name, kind: info.kind, apiBaseUrl: info.apiBaseUrl, complianceTags: complianceTagsOf(info.slug),
          ...data, consecutiveFailures: run.ok ? 0 : 1,
        },
      });
    }
  }

  function runProvider(slug: string): Promise<ProviderRun> {
    if (!adapters.has(slug)) return Promise.reject(new Error(`no ingestion adapter for provider "${slug}"`));
    const inFlight = running.get(slug);
    if (inFlight) return inFlight;
    const run = poll(slug).finally(() => running.delete(slug));
    running.set(slug, run);
    return run;
  }

  async function pollDue() {
    const rows = await prisma.provider.findMany({
      where: { slug: { in: [...adapters.keys()] } },
      select: { slug: true, enabled: true, pollIntervalSeconds: true, lastPolledAt: true },
    });
    const bySlug = new Map(rows.map((r) => [r.slug, r]));
    const now = Date.now();
    for (const slug of adapters.keys()) {
      const p = bySlug.get(slug);
      if (!leader || running.has(slug) || (p && !p.enabled)) continue;
      // A provider without a row has never been polled: it is due.
      if (!p?.lastPolledAt || p.lastPolledAt.getTime() + p.pollIntervalSeconds * 1000 <= now) void runProvider(slug);
    }
  }

  // A stale anchor only costs the KPI queries some history probes, so a failed roll is logged and retried next minute.
  function rollWindowsIfDue() {
    if (!windowRollMs || rolling || Date.now() - lastRoll < windowRollMs) return;
    lastRoll = Date.now();
    const t0 = performance.now();
    const abort = new AbortController();
    aborts.add(abort);
    rolling = rollPriceWindows(prisma)
      .then((rolls) => log.debug({ ms: Math.round(performance.now() - t0), rolls }, "price windows rolled"))
      .catch((err: unknown) => log.error({ err }, "rolling the price windows failed"))
      // Then the volatility hours completed since (a missing row only costs providerKpis a range scan).
      .then(() => fillProviderHourStats(prisma, { keepMs: VOLATILITY_WINDOW_MS, signal: abort.signal }))
      .then((run) => { if (run) log[run.hours > 1 ? "info" : "debug"]({ ms: Math.round(performance.now() - t0), ...run }, "provider hour stats written"); })
      .catch((err: unknown) => { if (!abort.signal.aborted) log.error({ err }, "writing the provider hour stats failed"); })
      .finally(() => { aborts.delete(abort); rolling = null; });
  }

  // A failed run is logged and tried again at the next hour; nothing is half-done (one transaction per batch).
  function rollUpHistoryIfDue() {
    if (!retentionMs || retaining || Date.now() < nextRetention) return;
    nextRetention = Date.now() + retentionMs;
    const abort = new AbortController();
    aborts.add(abort);
    const t0 = performance.now();
    retaining = rollUpPriceHistory(prisma, { rawDays, signal: abort.signal, onBatch: (points) => metrics?.priceHistoryRolledUp.inc(points) })
      .then((run) => {
        metrics?.priceRetentionLastRun.set(Date.now() / 1000);
        log[run.points ? "info" : "debug"]({ ms: Math.round(performance.now() - t0), ...run, rawDays },
          `price history: ${run.points} point${run.points === 1 ? "" : "s"} older than ${rawDays} days rolled up into ${run.hours} hourly row${run.hours === 1 ? "" : "s"}`);
      })
      .catch((err: unknown) => log.error({ err }, "rolling up the price history failed"))
      .finally(() => { aborts.delete(abort); retaining = null; });
  }

  function scheduleTick() {
    tickTimer = setTimeout(async () => {
      if (!leader) return;
      rollWindowsIfDue();
      rollUpHistoryIfDue();
      await pollDue().catch((err: unknown) => log.error({ err }, "ingestion tick failed"));
      if (leader) scheduleTick();
    }, tickMs);
  }

  function becomeLeader() {
    if (leader) return;
    leader = true;
    metrics?.ingestionLeader.set(1);
    log.info({ lockKey }, "ingestion leader: polling providers");
    void loadLastSuccesses().catch((err: unknown) => log.warn({ err }, "could not read the providers' last successes"));
    void pollDue().catch((err: unknown) => log.error({ err }, "ingestion tick failed"));
    rollWindowsIfDue();
    nextRetention = Date.now() + retentionDelayMs;
    scheduleTick();
  }

  function loseLeadership(why: string) {
    if (!leader) return;
    leader = false;
    metrics?.ingestionLeader.set(0);
    clearTimeout(tickTimer);
    for (const a of aborts) a.abort(new Error(`ingestion leadership lost: ${why}`));
    if (why !== STOPPED) log.warn({ why }, "ingestion leadership lost");
  }

  function dropLockClient(client: pg.Client, why: string) {
    if (lockClient !== client) return;
    lockClient = null;
    loseLeadership(why);
    client.end().catch(() => {});
  }

  // One attempt: the follower asks for the lock, the leader checks that its session is alive.
  async function contend() {
    if (!opts.databaseUrl) return becomeLeader();
    let client = lockClient;
    try {
      if (!client) {
        // Timeouts and keep-alive: a leader cut off from the database must find out, not hang in a heartbeat.
        const fresh = new pg.Client({
          connectionString: opts.databaseUrl, application_name: "gpubroker-ingestion-lock",
          keepAlive: true, connectionTimeoutMillis: 10_000, query_timeout: 10_000,
        });
        fresh.on("error", (err) => dropLockClient(fresh, err.message));
        fresh.on("end", () => dropLockClient(fresh, "lock connection closed"));
        lockClient = client = fresh;
        await fresh.connect();
      }
      if (leader) {
        await client.query("SELECT 1");
        return;
      }
      const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS locked", [lockKey]);
      // stop() may have run meanwhile: it unlocks and closes this client after our query.
      if (rows[0]?.locked && started && lockClient === client) becomeLeader();
    } catch (err) {
      if (client) dropLockClient(client, err instanceof Error ? err.message : String(err));
      if (started) log.warn({ err: err instanceof Error ? err.message : err }, "ingestion lock connection failed; retrying");
    }
  }

  function scheduleContend() {
    lockTimer = setTimeout(async () => {
      await contend();
      if (started) scheduleContend();
    }, lockRetryMs);
  }

  return {
    start() {
      if (started) return;
      started = true;
      if (summaryMs > 0) summaryTimer = setInterval(summarize, summaryMs).unref();
      void contend().then(() => { if (started) scheduleContend(); });
    },
    async stop() {
      started = false;
      clearTimeout(lockTimer);
      clearInterval(summaryTimer);
      const wasLeader = leader;
      loseLeadership(STOPPED);
      for (const a of aborts) a.abort(new Error("ingestion stopped"));
      await Promise.allSettled([...running.values(), rolling, retaining]);
      const client = lockClient;
      lockClient = null;
      if (client) {
        await client.query("SELECT pg_advisory_unlock_all()").catch(() => {});
        await client.end().catch(() => {});
      }
      if (wasLeader) log.info("ingestion stopped: leadership released");
      if (summaryMs > 0) summarize(); // what happened since the last summary
    },
    runProvider,
    refreshNow: runProvider,
    hasAdapter: (slug) => adapters.has(slug),
    get isLeader() { return leader; },
  };
}
