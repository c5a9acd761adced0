// The fault suite's cluster: a private PostgreSQL database, a private redis-server on a free port
// (killed and restarted at will; it persists nothing, as on our machines), API processes started the
// way an operator starts them (`src/main.ts`, demo market polled every second by the elected leader),
// and followers: graphql-ws clients that resume with their last cursor, as the README tells clients to.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import pg from "pg";
import WebSocket from "ws";
import { createClient, type Client } from "graphql-ws";
import { Redis } from "ioredis";
import { openDatabase } from "../../src/infra/db.ts";

const root = join(import.meta.dirname, "..", "..");

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  const probe = createNetServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address() as AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The event number in one of our cursors (base64url of "ev1:<stream>:<seq>"). */
export const cursorSeq = (cursor: string) => Number(Buffer.from(cursor, "base64url").toString("latin1").split(":")[2]);

export interface Node { name: string; port: number; url: string; child: ChildProcess; log: string[] }

export class Cluster {
  readonly dbName = `gpubroker_faults_${randomBytes(4).toString("hex")}`;
  dbUrl = "";
  redisPort = 0;
  redis: ChildProcess | undefined;
  admin!: pg.Client;
  readonly nodes: Node[] = [];
  /** Production needs one key pair shared by every node. */
  private readonly keys = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } });

  constructor(private readonly baseUrl: string) {}

  async start(): Promise<void> {
    const admin = new pg.Client({ connectionString: this.baseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${this.dbName}"`);
    await admin.end();
    const url = new URL(this.baseUrl);
    url.pathname = `/${this.dbName}`;
    this.dbUrl = url.toString();
    await (await openDatabase({ databaseUrl: this.dbUrl, migrate: true })).close();
    this.admin = new pg.Client({ connectionString: this.dbUrl, application_name: "fault-suite" });
    await this.admin.connect();
    this.redisPort = await freePort();
    await this.startRedis();
  }

  async startRedis(): Promise<void> {
    this.redis = spawn("redis-server", ["--port", String(this.redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    await once(this.redis, "spawn");
    const ping = new Redis(this.redisPort, "127.0.0.1", { maxRetriesPerRequest: null, retryStrategy: () => 20 }).on("error", () => {});
    await ping.ping();
    ping.disconnect();
  }

  /** A crash: SIGKILL, and everything it held is gone (no persistence). */
  async killRedis(): Promise<void> {
    const redis = this.redis;
    if (!redis || redis.exitCode !== null || redis.signalCode !== null) return;
    const exited = once(redis, "exit");
    redis.kill("SIGKILL");
    await exited;
  }

  /** Starts an API process on `port` (a fresh free one by default) and resolves once it serves. */
  async startNode(name: string, env: Record<string, string> = {}, port?: number): Promise<Node> {
    const { DATABASE_URL: _d, REDIS_URL: _r, ...parent } = process.env;
    const p = port ?? await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: root,
      env: {
        ...parent, NODE_ENV: "production", LOG_LEVEL: "warn", HOST: "127.0.0.1", PORT: String(p),
        DATABASE_URL: this.dbUrl, REDIS_URL: `redis://127.0.0.1:${this.redisPort}`,
        JWT_PRIVATE_KEY: this.keys.privateKey, JWT_PUBLIC_KEY: this.keys.publicKey,
        INGESTION: "true", DEMO_MARKET: "true", DEMO_MARKET_INTERVAL_SECONDS: "1", SEED_SNAPSHOT: "false",
        // the suite signs up one user per cluster from one address, and its followers reconnect often
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log: string[] = [];
    const node: Node = { name, port: p, url: `http://127.0.0.1:${p}/graphql`, child, log };
    const keep = (d: Buffer) => { log.push(d.toString()); if (log.length > 200) log.shift(); };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const exited = once(child, "exit").then(([code]) => { throw new Error(`${name} exited (${code}) before serving: ${log.join("").slice(-2000)}`); });
    await Promise.race([until(async () => (await fetch(`http://127.0.0.1:${p}/health`).then((r) => r.ok).catch(() => false)) || undefined, `${name} to serve`, 60_000), exited]);
    const existing = this.nodes.findIndex((n) => n.name === name);
    if (existing >= 0) this.nodes[existing] = node; else this.nodes.push(node);
    return node;
  }

  async killNode(node: Node, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (node.child.exitCode !== null || node.child.signalCode !== null) return;
    const exited = once(node.child, "exit");
    node.child.kill(signal);
    await exited;
  }

  /** The node that says (on /metrics) it holds the ingestion lock, when exactly one does. */
  async leader(): Promise<Node | undefined> {
    const leaders: Node[] = [];
    for (const node of this.nodes) {
      if (node.child.exitCode !== null || node.child.signalCode !== null) continue;
      const text = await fetch(`http://127.0.0.1:${node.port}/metrics`).then((r) => r.text()).catch(() => "");
      if (/^gpubroker_ingestion_leader 1$/m.test(text)) leaders.push(node);
    }
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  async gql(node: Node, query: string, variables?: unknown, token?: string) {
    const res = await fetch(node.url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  }

  async head(stream: "market" | "notification"): Promise<number> {
    const { rows } = await this.admin.query<{ seq: string }>(`SELECT seq FROM "EventStream" WHERE name = $1`, [stream]);
    return Number(rows[0]!.seq);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.killNode(n, "SIGTERM")));
    await this.killRedis();
    await this.admin?.end().catch(() => {});
    const admin = new pg.Client({ connectionString: this.baseUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`);
    await admin.end();
  }
}

const TICKS = `subscription ($after: String) { priceTicks(after: $after) { cursor } }`;
const NOTES = `subscription ($after: String) { notifications(after: $after) { cursor id } }`;

/**
 * A client that follows priceTicks and notifications through one node (the next one when it is gone)
 * and resumes after its last cursor on every reconnect, recording what it received.
 */
export class Follower {
  readonly ticks: number[] = [];
  readonly notes: { seq: number; id: string }[] = [];
  readonly errors: unknown[] = [];
  connects = 0;
  private readonly tickVars: { after: string | null } = { after: null };
  private readonly noteVars: { after: string | null } = { after: null };
  private readonly client: Client;
  private closed = false;

  constructor(readonly name: string, urls: () => string[], token: string) {
    let attempt = 0;
    this.client = createClient({
      // the first node, then the next one on each failed attempt
      url: () => { const list = urls(); return list[attempt++ % list.length]!.replace("http", "ws"); },
      webSocketImpl: WebSocket,
      connectionParams: () => ({ authorization: `Bearer ${token}` }),
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: async () => { await sleep(200); },
      on: { connected: () => { this.connects++; attempt--; } }, // stay on the node that answered
    });
    this.follow(TICKS, this.tickVars, (r) => { const seq = cursorSeq(r.priceTicks.cursor); this.ticks.push(seq); });
    this.follow(NOTES, this.noteVars, (r) => { this.notes.push({ seq: cursorSeq(r.notifications.cursor), id: r.notifications.id }); });
  }

  private follow(query: string, variables: { after: string | null }, record: (data: any) => void) {
    if (this.closed) return;
    let ended = false;
    const again = () => { if (!ended) { ended = true; setTimeout(() => this.follow(query, variables, record), 100); } };
    this.client.subscribe({ query, variables }, {
      next: ({ data, errors }) => {
        if (errors?.length) { this.errors.push(errors); return; }
        const field = Object.values(data as Record<string, { cursor: string }>)[0]!;
        record(data);
        variables.after = field.cursor;
      },
      complete: again,
      error: (err) => { this.errors.push(err); again(); },
    });
  }

  lastTick(): number { return this.ticks.at(-1) ?? 0; }

  async close(): Promise<void> {
    this.closed = true;
    await this.client.dispose();
  }
}

/** Gaps and repeats in a subscriber's event numbers from its first to its last. */
export function audit(seqs: readonly number[]): { received: number; lost: number; duplicated: number; outOfOrder: number } {
  let duplicated = 0;
  let outOfOrder = 0;
  const seen = new Set<number>();
  for (let i = 0; i < seqs.length; i++) {
    if (seen.has(seqs[i]!)) duplicated++;
    else if (i > 0 && seqs[i]! < seqs[i - 1]!) outOfOrder++;
    seen.add(seqs[i]!);
  }
  const first = Math.min(...seqs);
  const last = Math.max(...seqs);
  return { received: seqs.length, lost: seqs.length ? last - first + 1 - seen.size : 0, duplicated, outOfOrder };
}
