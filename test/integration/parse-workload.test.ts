// parseWorkload through GraphQL: the three examples read exactly; the workloadInput and offerFilter
// JSON go unchanged into estimateWorkload (and offers) on a seeded market and come back with options, no
// errors; unreadable text is BAD_USER_INPUT, never an internal error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../src/infra/db.ts";
import { testClient } from "../support/app.ts";
import { openTestDatabase } from "../support/db.ts";
import { seedMarket } from "../support/market.ts";

const EUROPE = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "GB", "CH", "NO", "IS", "LI"];

const PARSE = `query Parse($text: String!) {
  parseWorkload(text: $text) {
    kind precision durationHours hints notUnderstood notes assumptions confidence workloadInput workloadInputReason offerFilter
    model { text name preset imageModel parameters isImageModel }
    quantities { text value unit period }
    regions { text countries }
    gpus { text gpuModels count }
    budget { maxPricePerHour maxPricePerGpuHour total totalPeriod }
    understood { text meaning }
  }
}`;

const ESTIMATE = `query Estimate($input: WorkloadInput!, $filter: OfferFilter) {
  estimateWorkload(input: $input, filter: $filter, first: 3) {
    kind considered feasible options { offer { country gpuCount onDemandPrice pricePerGpuHour spotPrice } cost }
  }
}`;

describe("parseWorkload over GraphQL", () => {
  let db: Database;
  let request: ReturnType<typeof testClient>["request"];

  beforeAll(async () => {
    db = await openTestDatabase();
    await seedMarket(db.prisma, 60);  // US, DE and IN; H100-SXM-80GB, A100-SXM-80GB, RTX-4090, MI300X; 1–8 GPUs
    request = testClient(db).request;
  });
  afterAll(async () => { await db?.close(); });

  const parse = async (text: string) => {
    const res = await request(PARSE, { text });
    expect(res.errors).toBeUndefined();
    return res.data.parseWorkload;
  };

  describe("the issue's examples, exactly", () => {
    it("generate 500 images using Stable Diffusion", async () => {
      expect(await parse("generate 500 images using Stable Diffusion")).toEqual({
        kind: "IMAGE_GENERATION",
        model: { text: "Stable Diffusion", name: "SDXL 1.0 base", preset: null, imageModel: "SDXL", parameters: null, isImageModel: true },
        precision: null,
        quantities: [{ text: "500 images", value: 500, unit: "IMAGES", period: null }],
        durationHours: null, regions: [], gpus: [], budget: null, hints: [],
        understood: [{ text: "500 images", meaning: "volume: 500 images" }, { text: "Stable Diffusion", meaning: "model: SDXL 1.0 base (image model sdxl)" }],
        notUnderstood: [],
        notes: ["“Stable Diffusion” without a version is read as SDXL; say “1.5” for Stable Diffusion 1.5."],
        assumptions: ["“500 images” is a total: costed as one month's volume; the cost does not depend on the period, the instance count does."],
        confidence: 1,
        workloadInput: "{\"image\":{\"model\":\"SDXL\",\"imagesPerPeriod\":500,\"period\":\"MONTH\"}}",
        workloadInputReason: null,
        offerFilter: "{}",
      });
    });

    it("fine-tune llama 2 7b on 1B tokens", async () => {
      const p = await parse("fine-tune llama 2 7b on 1B tokens");
      expect(p).toEqual({
        kind: "FINE_TUNING",
        model: { text: "llama 2 7b", name: "Llama 2 7B", preset: null, imageModel: null, parameters: 7e9, isImageModel: false },
        precision: null,
        quantities: [{ text: "1B tokens", value: 1e9, unit: "TOKENS", period: null }],
        durationHours: null, regions: [], gpus: [], budget: null, hints: [],
        understood: [
          { text: "fine-tune", meaning: "kind: fine-tuning" },
          { text: "llama 2 7b", meaning: "model: Llama 2 7B (no preset; 7B parameters)" },
          { text: "1B tokens", meaning: "volume: 1,000,000,000 tokens" },
        ],
        notUnderstood: [], notes: [], assumptions: [], confidence: 1,
        workloadInput: "{\"training\":{\"parameters\":7000000000,\"tokens\":1000000000}}",
        workloadInputReason: null,
        offerFilter: "{}",
      });
      expect(JSON.parse(p.workloadInput)).toEqual({ training: { parameters: 7e9, tokens: 1e9 } });
    });

    it("I need to serve Llama 3 70B to 200 users in Europe, what's cheapest?", async () => {
      expect(await parse("I need to serve Llama 3 70B to 200 users in Europe, what's cheapest?")).toEqual({
        kind: "LLM_INFERENCE",
        model: { text: "Llama 3 70B", name: "Llama 3 70B", preset: "llama-3-70b", imageModel: null, parameters: 70.6e9, isImageModel: false },
        precision: null,
        quantities: [{ text: "200 users", value: 200, unit: "CONCURRENT_USERS", period: null }],
        durationHours: null,
        regions: [{ text: "Europe", countries: EUROPE }],
        gpus: [], budget: null, hints: ["CHEAPEST"],
        understood: [
          { text: "serve", meaning: "kind: LLM inference" },
          { text: "Llama 3 70B", meaning: "model: Llama 3 70B (preset llama-3-70b, 70.6B parameters)" },
          { text: "200 users", meaning: "volume: 200 concurrent users" },
          { text: "Europe", meaning: `region: Europe (EU, EEA, Switzerland, UK) → 32 countries (${EUROPE.join(", ")})` },
          { text: "cheapest", meaning: "hint: cheapest (compare the estimate's cost)" },
        ],
        notUnderstood: [],
        notes: ["“200 users” is read as 200 users active at the same time."],
        assumptions: [
          "Each concurrent user sends 30 requests an hour (one every 2 minutes), around the clock: 200 × 30 × 730 h = 4,380,000 requests a month.",
          "Each request: 1000 prompt tokens and 300 generated tokens (a chat turn).",
          "Batch 32: an instance decodes up to 32 users' answers together (fewer users, smaller batch).",
        ],
        confidence: 1,
        workloadInput: "{\"inference\":{\"model\":\"llama-3-70b\",\"requestsPerPeriod\":4380000,\"tokensPerRequest\":300,\"promptTokens\":1000,\"batch\":32,\"period\":\"MONTH\"}}",
        workloadInputReason: null,
        offerFilter: JSON.stringify({ countries: EUROPE }),
      });
    });
  });

  describe("round trip: workloadInput and offerFilter go unchanged into estimateWorkload", () => {
    const TEXTS = [
      "I need to serve Llama 3 70B to 200 users in Europe, what's cheapest?",
      "generate 500 images using Stable Diffusion",
      "fine-tune llama 2 7b on 1B tokens",
      "Host Llama-3-70B for a chatbot with 50 requests per second, under $20/h",
      "llama3 8b, 2M tokens/day, us-east, on H100s",
      "embed 10M documents with llama 3 8b in India",
      "batch process 1B tokens with mixtral in Germany",
      "fine-tune mistral 7b with LoRA on 50k examples for 3 epochs in 48 hours, max $3 per GPU hour",
      "generate 1.5 million pictures with SD 1.5 per month, spot is fine",
      "serve qwen 2.5 72b int4 to 1000 concurrent users on 2x A100 80GB",
      "pre-train a 1B model from scratch on 20B tokens within 3 days on H100 or H200",
    ];

    it.each(TEXTS)("%s", async (text) => {
      const parsed = await parse(text);
      expect(parsed.workloadInputReason).toBeNull();
      const input = JSON.parse(parsed.workloadInput);
      const filter = JSON.parse(parsed.offerFilter);
      const res = await request(ESTIMATE, { input, filter });
      expect(res.errors).toBeUndefined();
      const estimate = res.data.estimateWorkload;
      expect(estimate.options.length).toBeGreaterThan(0);
      // The filter was applied: every option honours it.
      for (const { offer } of estimate.options) {
        if (filter.countries) expect(filter.countries).toContain(offer.country);
        if (filter.gpuCount) expect(offer.gpuCount).toBe(filter.gpuCount.min);
        if (filter.price) expect(Number(offer.onDemandPrice)).toBeLessThanOrEqual(Number(filter.price.max));
        if (filter.pricePerGpu) expect(Number(offer.pricePerGpuHour)).toBeLessThanOrEqual(Number(filter.pricePerGpu.max));
        if (filter.spotOnly) expect(offer.spotPrice).not.toBeNull();
      }
      const offers = await request(`query Offers($filter: OfferFilter) { offers(filter: $filter, first: 1) { totalCount } }`, { filter });
      expect(offers.errors).toBeUndefined();
      expect(offers.data.offers.totalCount).toBeGreaterThan(0);
    });

    it("keeps only listed GPU models in the filter, so offers never rejects it", async () => {
      const parsed = await parse("serve llama 3 8b to 10 users on an H200 or an A100");
      expect(JSON.parse(parsed.offerFilter)).toEqual({ gpuModels: ["A100-SXM-80GB"] });
      expect(parsed.notes).toContain("No offer here has H200-SXM-141GB or H200-NVL-141GB (“H200”), so offerFilter does not name them.");
    });
  });

  describe("bad text is BAD_USER_INPUT, never INTERNAL_SERVER_ERROR", () => {
    const cases: Array<[string, string, string, RegExp]> = [
      ["empty", "", "EMPTY_TEXT", /^text is empty/],
      ["blank", " \n ", "EMPTY_TEXT", /^text is empty/],
      ["2,001 characters", "x".repeat(2001), "TEXT_TOO_LONG", /^text has 2001 characters; at most 2000 are read\.$/],
      ["a bell character", "serve llama\u0007", "CONTROL_CHARACTER", /^text contains the control character U\+0007 at position 11/],
      ["an escape character", "\u001b[31mred", "CONTROL_CHARACTER", /U\+001B at position 0/],
    ];
    it.each(cases)("%s", async (_name, text, reason, message) => {
      const res = await request(PARSE, { text });
      expect(res.data).toBeNull();
      expect(res.errors).toHaveLength(1);
      expect(res.errors![0]!.extensions).toEqual({ code: "BAD_USER_INPUT", reason, argument: "text" });
      expect(res.errors![0]!.message).toMatch(message);
    });

    it("NUL and unpaired surrogates are refused at the edge, before the parser runs (the rule for every text argument)", async () => {
      for (const text of ["serve llama\u0000", "lone \uD800 high"]) {
        const res = await request(PARSE, { text });
        expect(res.data ?? null).toBeNull();
        expect(res.errors).toHaveLength(1);
        expect(res.errors![0]!.extensions).toEqual({ code: "BAD_USER_INPUT", argument: "$text" });
        expect(res.errors![0]!.message).toBe("Text must not contain NUL characters or unpaired UTF-16 surrogates ($text).");
      }
    });

    it("reads hostile but valid text without an error", async () => {
      for (const text of ["🚀🔥💯", "999999999999999999999 images", "1e308 tokens/s of llama 3 8b under $1e308/h", "$".repeat(2000), "1".repeat(2000)]) {
        const res = await request(PARSE, { text });
        expect(res.errors).toBeUndefined();
        expect(res.data.parseWorkload.workloadInput).toBeNull();
      }
    });
  });
});
