// deploy/compose.yaml, its nginx and Prometheus files and the Dockerfile agree with each other and with
// the code: there is no Docker engine here, so what a `docker compose up` depends on is checked as data.
// The runtime layout itself (dist, production dependencies, migration, two nodes) is run by
// test/production/layout.sh.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = join(import.meta.dirname, "..", "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }> | string[];
  deploy?: { replicas?: number };
  volumes?: string[];
  secrets?: string[];
  profiles?: string[];
  ports?: string[];
}
const compose = parse(read("deploy/compose.yaml"), { merge: true }) as { services: Record<string, Service>; secrets: Record<string, { file: string }> };
const { services } = compose;
const dockerfile = read("Dockerfile");
const readme = read("README.md");
// The README's configuration table: the variables named in each row's first cell
const documented = new Set([...readme.matchAll(/^\| ([^|]*`[A-Z][A-Z0-9_]+`[^|]*) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((v) => v[1]!)));

describe("deploy/compose.yaml", () => {
  it("runs PostgreSQL, Redis, a one-shot migration, two API replicas behind one port, and Prometheus on demand", () => {
    expect(Object.keys(services).sort()).toEqual(["api", "migrate", "postgres", "prometheus", "proxy", "redis"]);
    expect(services.api!.deploy?.replicas).toBe(2);
    expect(services.proxy!.ports).toEqual(["8080:80"]);
    expect(services.api!.ports).toBeUndefined(); // only through the proxy
    expect(services.prometheus!.profiles).toEqual(["monitoring"]);
  });

  it("starts the API only after the migration has finished, and migrates only once PostgreSQL is healthy", () => {
    expect(services.migrate!.command).toEqual(["node", "dist/scripts/migrate.js"]);
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: "service_healthy" } });
    expect(services.api!.depends_on).toMatchObject({ migrate: { condition: "service_completed_successfully" }, redis: { condition: "service_healthy" } });
    expect(existsSync(join(root, "scripts/migrate.ts"))).toBe(true);
  });

  it("runs the image built from the Dockerfile, with node on the build as PID 1", () => {
    expect(services.migrate!.build).toEqual({ context: "..", dockerfile: "Dockerfile" });
    expect(services.api!.image).toBe(services.migrate!.image);
    expect(services.api!.command).toEqual(["node", "--enable-source-maps", "dist/src/main.js"]);
    expect(services.api!.entrypoint!.join(" ")).toMatch(/exec "\$\$@"/);
    expect(dockerfile).toMatch(/^CMD \["node", "--enable-source-maps", "dist\/src\/main\.js"\]$/m);
  });

  it("sets only documented configuration variables, and the JWT key pair every replica shares", () => {
    const names = new Set([...Object.keys(services.api!.environment!), ...Object.keys(services.migrate!.environment!),
      ...[...services.api!.entrypoint!.join(" ").matchAll(/([A-Z_]+)=\\?"/g)].map((m) => m[1]!)]);
    expect([...names].filter((n) => !documented.has(n))).toEqual([]);
    expect(names).toContain("JWT_PRIVATE_KEY");
    expect(names).toContain("JWT_PUBLIC_KEY");
    expect(services.api!.environment!.NODE_ENV).toBe("production");
    expect(services.api!.environment!.TRUST_PROXY).toBe("1"); // one proxy in front: nginx
    for (const secret of services.api!.secrets!) expect(compose.secrets[secret]!.file).toMatch(/^\.\/secrets\//);
    expect(read("deploy/secrets/.gitignore")).toMatch(/^\*$/m);
  });
});

describe("deploy/nginx/gpubroker.conf", () => {
  const conf = read("deploy/nginx/gpubroker.conf");
  it("proxies to the api service, passes WebSocket upgrades and streams SSE unbuffered", () => {
    expect(conf).toMatch(/server api:4000/);
    expect(conf).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(conf).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(conf).toMatch(/proxy_buffering off;/);
    expect(conf).toMatch(/proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/);
    expect(services.proxy!.volumes).toContain("./nginx/gpubroker.conf:/etc/nginx/conf.d/default.conf:ro");
  });
});

describe("deploy/prometheus/prometheus.yml", () => {
  const config = parse(read("deploy/prometheus/prometheus.yml")) as {
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path: string; authorization: { credentials_file: string }; dns_sd_configs: { names: string[]; port: number }[] }[];
  };
  it("scrapes every API replica as job gpubroker with the token, and loads the alert rules compose mounts", () => {
    const [job] = config.scrape_configs;
    expect(job).toMatchObject({ job_name: "gpubroker", metrics_path: "/metrics", dns_sd_configs: [{ names: ["api"], type: "A", port: 4000 }] });
    const mounts = services.prometheus!.volumes!.map((v) => v.split(":")[1]);
    expect(mounts).toContain(job!.authorization.credentials_file);
    for (const rules of config.rule_files) expect(mounts).toContain(rules);
    expect(read("deploy/prometheus/alerts.yaml")).toMatch(/job="gpubroker"/);
  });
});

describe("Dockerfile", () => {
  it("builds in one stage and runs production dependencies only, as a non-root user, with a readiness HEALTHCHECK", () => {
    expect(dockerfile).toMatch(/^FROM node:24-bookworm-slim AS build$/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/npm install --omit=dev --ignore-scripts/);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(dockerfile).toMatch(/^COPY prisma\/migrations \.\/prisma\/migrations$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/ready/m);
    expect(dockerfile).not.toMatch(/tsx/);
  });
});
