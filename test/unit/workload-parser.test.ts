// parseWorkload (src/domain/assistant/workload-parser.ts): realistic phrasings read into exact kinds,
// models, quantities, countries and budgets; the estimateWorkload input they imply; and hostile text
// (empty, too long, control characters, emoji, absurd numbers) rejected or read without NaN or Infinity.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CHAT_ASSUMPTIONS, MAX_WORKLOAD_TEXT_LENGTH, parseWorkload, WorkloadTextError, workloadTextProblem, type ParsedWorkload,
} from "../../src/domain/assistant/workload-parser.ts";
import { estimateWorkload } from "../../src/domain/math/workload.ts";

const EU = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"];
const EUROPE = [...EU, "GB", "CH", "NO", "IS", "LI"];
const ASIA = ["JP", "KR", "CN", "HK", "TW", "SG", "IN", "ID", "MY", "TH", "VN", "PH"];

/** The facts a phrasing must yield, in a form a table can hold. */
function facts(p: ParsedWorkload) {
  return {
    kind: p.kind,
    model: p.model && (p.model.preset ?? p.model.imageModel ?? p.model.name),
    parameters: p.model?.parameters ?? null,
    quantities: p.quantities.map((q) => [q.text, q.value, q.unit, q.period]),
    countries: p.offerFilter.countries ?? [],
    budget: p.budget && { perHour: p.budget.maxPricePerHour?.toString() ?? null, perGpuHour: p.budget.maxPricePerGpuHour?.toString() ?? null, total: p.budget.total?.toString() ?? null },
    hints: p.hints,
  };
}
type Facts = ReturnType<typeof facts>;
const none: Pick<Facts, "countries" | "budget" | "hints"> = { countries: [], budget: null, hints: [] };

const PHRASINGS: Array<[string, Facts]> = [
  ["generate 500 images using Stable Diffusion",
    { kind: "IMAGE_GENERATION", model: "sdxl", parameters: null, quantities: [["500 images", 500, "IMAGES", null]], ...none }],
  ["fine-tune llama 2 7b on 1B tokens",
    { kind: "FINE_TUNING", model: "Llama 2 7B", parameters: 7e9, quantities: [["1B tokens", 1e9, "TOKENS", null]], ...none }],
  ["I need to serve Llama 3 70B to 200 users in Europe, what's cheapest?",
    { kind: "LLM_INFERENCE", model: "llama-3-70b", parameters: 70.6e9, quantities: [["200 users", 200, "CONCURRENT_USERS", null]], countries: EUROPE, budget: null, hints: ["CHEAPEST"] }],
  ["Host Llama-3-70B for a chatbot with 50 requests per second, under $2/h",
    { kind: "LLM_INFERENCE", model: "llama-3-70b", parameters: 70.6e9, quantities: [["50 requests per second", 50, "REQUESTS", "SECOND"]], countries: [], budget: { perHour: "2", perGpuHour: null, total: null }, hints: [] }],
  ["llama3 8b, 2M tokens/day, us-east",
    { kind: "LLM_INFERENCE", model: "llama-3-8b", parameters: 8.03e9, quantities: [["2M tokens/day", 2e6, "TOKENS", "DAY"]], countries: ["US"], budget: null, hints: [] }],
  ["fine-tune mistral 7b with LoRA on 50k examples for 3 epochs in 48 hours",
    { kind: "FINE_TUNING", model: "mistral-7b", parameters: 7.24e9, quantities: [["50k examples", 5e4, "EXAMPLES", null], ["3 epochs", 3, "EPOCHS", null]], ...none }],
  ["pre-train a 1B model from scratch on 20B tokens within 3 days",
    { kind: "TRAINING", model: "a 1B model", parameters: 1e9, quantities: [["20B tokens", 2e10, "TOKENS", null]], ...none }],
  ["embed 10M documents with llama 3 8b",
    { kind: "EMBEDDING_BATCH", model: "llama-3-8b", parameters: 8.03e9, quantities: [["10M documents", 1e7, "DOCUMENTS", null]], ...none }],
  ["batch process 1B tokens with mixtral in Germany",
    { kind: "EMBEDDING_BATCH", model: "mixtral-8x7b", parameters: 46.7e9, quantities: [["1B tokens", 1e9, "TOKENS", null]], countries: ["DE"], budget: null, hints: [] }],
  ["10k requests a day to deepseek, max $1.50 per GPU hour",
    { kind: "LLM_INFERENCE", model: "deepseek-v3", parameters: 671e9, quantities: [["10k requests a day", 1e4, "REQUESTS", "DAY"]], countries: [], budget: { perHour: null, perGpuHour: "1.5", total: null }, hints: [] }],
  ["generate 1.5 million pictures with SD 1.5 in Japan or Singapore",
    { kind: "IMAGE_GENERATION", model: "sd-1.5", parameters: null, quantities: [["1.5 million pictures", 1.5e6, "IMAGES", null]], countries: ["JP", "SG"], budget: null, hints: [] }],
  ["serve qwen 2.5 72b int4 to 1000 concurrent users, low latency, reliable",
    { kind: "LLM_INFERENCE", model: "qwen-2.5-72b", parameters: 72.7e9, quantities: [["1000 concurrent users", 1000, "CONCURRENT_USERS", null]], countries: [], budget: null, hints: ["LOW_LATENCY", "RELIABLE"] }],
  ["train a 7b params model on 3e9 tokens with 8 H100s",
    { kind: "TRAINING", model: "a 7B model", parameters: 7e9, quantities: [["3e9 tokens", 3e9, "TOKENS", null]], ...none }],
  ["cheapest 4x A100 80GB in the US for serving llama 3.1 405b fp8",
    { kind: "LLM_INFERENCE", model: "llama-3.1-405b", parameters: 405.9e9, quantities: [], countries: ["US"], budget: null, hints: ["CHEAPEST"] }],
  ["budget $500, fine-tune a 13B model on 100M tokens",
    { kind: "FINE_TUNING", model: "a 13B model", parameters: 13e9, quantities: [["100M tokens", 1e8, "TOKENS", null]], countries: [], budget: { perHour: null, perGpuHour: null, total: "500" }, hints: [] }],
  ["run llama 70b 4-bit quantized for 20 users in asia, spot is fine",
    { kind: "LLM_INFERENCE", model: "llama-3-70b", parameters: 70.6e9, quantities: [["20 users", 20, "CONCURRENT_USERS", null]], countries: ASIA, budget: null, hints: ["SPOT"] }],
  ["serve 20 req/s of llama 3 8b in us-west-2 or the UK",
    { kind: "LLM_INFERENCE", model: "llama-3-8b", parameters: 8.03e9, quantities: [["20 req/s", 20, "REQUESTS", "SECOND"]], countries: ["US", "GB"], budget: null, hints: [] }],
  ["real-time chat for 5k users on llama 3 8b",
    { kind: "LLM_INFERENCE", model: "llama-3-8b", parameters: 8.03e9, quantities: [["5k users", 5000, "CONCURRENT_USERS", null]], countries: [], budget: null, hints: ["LOW_LATENCY"] }],
  ["cheap gpus for stable diffusion xl, 10,000 images per month",
    { kind: "IMAGE_GENERATION", model: "sdxl", parameters: null, quantities: [["10,000 images per month", 1e4, "IMAGES", "MONTH"]], countries: [], budget: null, hints: ["CHEAPEST"] }],
  ["Serve DeepSeek R1 for 1000 users in North America at under $20 an hour",
    { kind: "LLM_INFERENCE", model: "deepseek-v3", parameters: 671e9, quantities: [["1000 users", 1000, "CONCURRENT_USERS", null]], countries: ["US", "CA", "MX"], budget: { perHour: "20", perGpuHour: null, total: null }, hints: [] }],
  ["generate 100k images in 2 days with sdxl",
    { kind: "IMAGE_GENERATION", model: "sdxl", parameters: null, quantities: [["100k images", 1e5, "IMAGES", null]], ...none }],
  ["llama 3 8b at bf16 for 500 requests/min",
    { kind: "LLM_INFERENCE", model: "llama-3-8b", parameters: 8.03e9, quantities: [["500 requests/min", 500, "REQUESTS", "MINUTE"]], ...none }],
  ["we expect 3 billion tokens a month on mixtral 8x7b, deploy in the Netherlands or Germany",
    { kind: "LLM_INFERENCE", model: "mixtral-8x7b", parameters: 46.7e9, quantities: [["3 billion tokens a month", 3e9, "TOKENS", "MONTH"]], countries: ["NL", "DE"], budget: null, hints: [] }],
  ["qlora llama 3 8b on 2B tokens",
    { kind: "FINE_TUNING", model: "llama-3-8b", parameters: 8.03e9, quantities: [["2B tokens", 2e9, "TOKENS", null]], ...none }],
  ["1000 tokens/s of llama 3 8b",
    { kind: "LLM_INFERENCE", model: "llama-3-8b", parameters: 8.03e9, quantities: [["1000 tokens/s", 1000, "TOKENS", "SECOND"]], ...none }],
  ["two hundred users chatting with mistral",
    { kind: "LLM_INFERENCE", model: "mistral-7b", parameters: 7.24e9, quantities: [["two hundred users", 200, "CONCURRENT_USERS", null]], ...none }],
  ["$5k a month for serving llama 3 8b to 50 users",
    { kind: "LLM_INFERENCE", model: "llama-3-8b", parameters: 8.03e9, quantities: [["50 users", 50, "CONCURRENT_USERS", null]], countries: [], budget: { perHour: null, perGpuHour: null, total: "5000" }, hints: [] }],
  ["over 2 weeks train a 350M model on 10B tokens",
    { kind: "TRAINING", model: "a 350M model", parameters: 3.5e8, quantities: [["10B tokens", 1e10, "TOKENS", null]], ...none }],
  ["sdxl 2000 images daily on RTX 4090s in eu-west-1",
    { kind: "IMAGE_GENERATION", model: "sdxl", parameters: null, quantities: [["2000 images daily", 2000, "IMAGES", "DAY"]], countries: ["IE"], budget: null, hints: [] }],
  ["H100 vs A100 for llama 3 70b, EU only",
    { kind: "LLM_INFERENCE", model: "llama-3-70b", parameters: 70.6e9, quantities: [], countries: EU, budget: null, hints: [] }],
  ["50 qps llama-3-8b on an L40S, preemptible ok",
    { kind: "LLM_INFERENCE", model: "llama-3-8b", parameters: 8.03e9, quantities: [["50 qps", 50, "REQUESTS", "SECOND"]], countries: [], budget: null, hints: ["SPOT"] }],
  ["We're a startup building a customer support bot on Mistral 7B; about 3,000 conversations per day, hosted in France.",
    { kind: "LLM_INFERENCE", model: "mistral-7b", parameters: 7.24e9, quantities: [["3,000 conversations per day", 3000, "REQUESTS", "DAY"]], countries: ["FR"], budget: null, hints: [] }],
  ["Looking to fine tune Llama 3 8B on ~200k instruction pairs, need it done by the weekend",
    { kind: "FINE_TUNING", model: "llama-3-8b", parameters: 8.03e9, quantities: [["200k instruction pairs", 2e5, "EXAMPLES", null]], ...none }],
  ["classify 5 million records with llama 3 8b, fastest option in Canada",
    { kind: "EMBEDDING_BATCH", model: "llama-3-8b", parameters: 8.03e9, quantities: [["5 million records", 5e6, "DOCUMENTS", null]], countries: ["CA"], budget: null, hints: ["FAST"] }],
];

describe("parseWorkload: realistic phrasings", () => {
  it("has at least 25 of them", () => expect(PHRASINGS.length).toBeGreaterThanOrEqual(25));

  it.each(PHRASINGS)("%s", (text, expected) => {
    expect(facts(parseWorkload(text))).toEqual(expected);
  });

  it("reads every phrasing into an input estimateWorkload accepts, or says why not", () => {
    for (const [text] of PHRASINGS) {
      const p = parseWorkload(text);
      expect(p.workloadInput === null).toBe(p.workloadInputReason !== null);
      if (p.workloadInput === null) expect(p.workloadInputReason).toMatch(/Say how much traffic/);
    }
  });
});

describe("parseWorkload: the required examples, in full", () => {
  it("generate 500 images using Stable Diffusion → image generation, SDXL, 500 images", () => {
    const p = parseWorkload("generate 500 images using Stable Diffusion");
    expect(p).toMatchObject({
      kind: "IMAGE_GENERATION",
      model: { text: "Stable Diffusion", name: "SDXL 1.0 base", preset: null, imageModel: "sdxl", parameters: null, isImageModel: true },
      quantities: [{ text: "500 images", value: 500, unit: "IMAGES", period: null }],
      understood: [{ text: "500 images", meaning: "volume: 500 images" }, { text: "Stable Diffusion", meaning: "model: SDXL 1.0 base (image model sdxl)" }],
      notUnderstood: [],
      confidence: 1,
      workloadInput: { image: { model: "sdxl", imagesPerPeriod: 500, period: "MONTH" } },
      workloadInputReason: null,
      offerFilter: {},
    });
    expect(p.notes).toEqual(["“Stable Diffusion” without a version is read as SDXL; say “1.5” for Stable Diffusion 1.5."]);
  });

  it("fine-tune llama 2 7b on 1B tokens → fine-tuning, 7e9 parameters, 1e9 tokens", () => {
    const p = parseWorkload("fine-tune llama 2 7b on 1B tokens");
    expect(p).toMatchObject({
      kind: "FINE_TUNING",
      model: { text: "llama 2 7b", name: "Llama 2 7B", preset: null, parameters: 7e9 },
      quantities: [{ text: "1B tokens", value: 1e9, unit: "TOKENS", period: null }],
      notUnderstood: [], notes: [], assumptions: [], confidence: 1,
    });
    expect(p.workloadInput).toEqual({ training: { parameters: 7e9, tokens: 1e9 } });
  });

  it("serve Llama 3 70B to 200 users in Europe, cheapest → inference, llama-3-70b, 200 concurrent users, European countries, CHEAPEST", () => {
    const p = parseWorkload("I need to serve Llama 3 70B to 200 users in Europe, what's cheapest?");
    expect(p.kind).toBe("LLM_INFERENCE");
    expect(p.model).toEqual({ text: "Llama 3 70B", name: "Llama 3 70B", preset: "llama-3-70b", imageModel: null, parameters: 70.6e9, isImageModel: false });
    expect(p.quantities).toEqual([{ text: "200 users", value: 200, unit: "CONCURRENT_USERS", period: null }]);
    expect(p.regions).toEqual([{ text: "Europe", countries: EUROPE }]);
    expect(p.hints).toEqual(["CHEAPEST"]);
    expect(p.understood.map((u) => u.text)).toEqual(["serve", "Llama 3 70B", "200 users", "Europe", "cheapest"]);
    expect(p.notUnderstood).toEqual([]);
    expect(p.confidence).toBe(1);
    const { requestsPerUserPerHour, generatedTokensPerRequest, promptTokensPerRequest, maxBatch } = CHAT_ASSUMPTIONS;
    expect(p.workloadInput).toEqual({ inference: {
      model: "llama-3-70b", requestsPerPeriod: 200 * requestsPerUserPerHour * 730, tokensPerRequest: generatedTokensPerRequest,
      promptTokens: promptTokensPerRequest, batch: maxBatch, period: "MONTH",
    } });
    expect(p.assumptions).toEqual([
      "Each concurrent user sends 30 requests an hour (one every 2 minutes), around the clock: 200 × 30 × 730 h = 4,380,000 requests a month.",
      "Each request: 1000 prompt tokens and 300 generated tokens (a chat turn).",
      "Batch 32: an instance decodes up to 32 users' answers together (fewer users, smaller batch).",
    ]);
    expect(p.notes).toContain("“200 users” is read as 200 users active at the same time.");
    expect(p.offerFilter).toEqual({ countries: EUROPE });
  });
});

describe("parseWorkload: ready-to-use values", () => {
  const input = (text: string) => parseWorkload(text).workloadInput;

  it("turns rates into estimateWorkload's periods", () => {
    expect(input("Host Llama-3-70B for a chatbot with 50 requests per second")).toEqual({
      inference: { model: "llama-3-70b", requestsPerPeriod: 180_000, tokensPerRequest: 300, promptTokens: 1000, period: "HOUR" },
    });
    expect(input("1000 tokens/s of llama 3 8b")).toEqual({ inference: { model: "llama-3-8b", tokensPerPeriod: 3_600_000, period: "HOUR" } });
    expect(input("llama3 8b, 2M tokens/day")).toEqual({ inference: { model: "llama-3-8b", tokensPerPeriod: 2e6, period: "DAY" } });
    expect(input("llama 3 8b, 12M tokens a year")).toEqual({ inference: { model: "llama-3-8b", tokensPerPeriod: 1e6, period: "MONTH" } });
  });

  it("costs a total over the shortest period that holds the deadline", () => {
    expect(input("generate 100k images in 2 days with sdxl")).toEqual({ image: { model: "sdxl", imagesPerPeriod: 1e5, period: "WEEK" } });
    expect(input("generate 500 images in an hour")).toEqual({ image: { model: "sdxl", imagesPerPeriod: 500, period: "HOUR" } });
  });

  it("sizes training from examples and epochs, with the deadline as target hours", () => {
    expect(input("fine-tune mistral 7b with LoRA on 50k examples for 3 epochs in 48 hours")).toEqual({
      training: { parameters: 7.24e9, tokens: 50_000 * 512 * 3, targetHours: 48 },
    });
    expect(input("pre-train a 1B model from scratch on 20B tokens within 3 days bf16")).toEqual({
      training: { parameters: 1e9, tokens: 2e10, precision: "BF16", targetHours: 72 },
    });
  });

  it("says LoRA is costed as a full fine-tune, an upper bound", () => {
    expect(parseWorkload("LoRA on llama 3 8b, 1B tokens").notes).toContain(
      "LoRA trains small adapters, but the estimate is a full fine-tune (every parameter, 6·N·D FLOPs and 16 bytes of optimiser state per parameter): read it as an upper bound.");
  });

  it("costs embeddings as prompt-only inference and batch jobs with a large batch", () => {
    expect(input("embed 10M documents with llama 3 8b")).toEqual({
      inference: { model: "llama-3-8b", requestsPerPeriod: 1e7, tokensPerRequest: 1, promptTokens: 512, period: "MONTH" },
    });
    expect(input("batch process 1B tokens with mixtral")).toEqual({ inference: { model: "mixtral-8x7b", tokensPerPeriod: 1e9, period: "MONTH", batch: 32 } });
  });

  it("serves a bare size as the preset within 15 % of it, and refuses one that is not", () => {
    const p = parseWorkload("serve a 70B model to 10 users");
    expect(p.workloadInput?.inference?.model).toBe("llama-3-70b");
    expect(p.assumptions[0]).toBe("“a 70B model” has no preset: served as Llama 3 70B (70.6B parameters), the preset within 15 % of its size.");
    const q = parseWorkload("serve a 13B model to 10 users");
    expect(q.workloadInput).toBeNull();
    expect(q.workloadInputReason).toMatch(/^“a 13B model” is not one of the LLM presets estimateWorkload can serve/);
  });

  it("builds the offer filter: countries, GPU variants, GPU count, prices, spot", () => {
    expect(parseWorkload("serve llama 3 8b on 2x A100 80GB in Germany under $3/h, max $1.40 per GPU-hour, spot").offerFilter).toEqual({
      countries: ["DE"], gpuModels: ["A100-SXM-80GB"], gpuCount: { min: 2, max: 2 }, price: { max: "3.00" }, pricePerGpu: { max: "1.40" }, spotOnly: true,
    });
    expect(parseWorkload("H100s or a T4").offerFilter).toEqual({ gpuModels: ["H100-SXM-80GB", "H100-PCIE-80GB", "H100-NVL-94GB", "T4"] });
    expect(parseWorkload("nothing to filter here").offerFilter).toEqual({});
  });

  it("reads the ways people write a budget", () => {
    const budget = (text: string) => {
      const b = parseWorkload(text).budget;
      return b && [b.maxPricePerHour?.toString() ?? null, b.maxPricePerGpuHour?.toString() ?? null, b.total?.toString() ?? null, b.totalPeriod];
    };
    expect(budget("no more than $2 per hour")).toEqual(["2", null, null, null]);
    expect(budget("$0.80 hourly")).toEqual(["0.8", null, null, null]);
    expect(budget("$1.5/GPU/hr")).toEqual([null, "1.5", null, null]);
    expect(budget("$2/hour per GPU")).toEqual([null, "2", null, null]);
    expect(budget("under 3 dollars per gpu")).toEqual([null, "3", null, null]);
    expect(budget("budget of 300 dollars")).toEqual([null, null, "300", null]);
    expect(budget("budget: 1,200")).toEqual([null, null, "1200", null]);
    expect(budget("spend up to $5k a month")).toEqual([null, null, "5000", "MONTH"]);
    expect(budget("around $0.123456/h")).toEqual(["0.1235", null, null, null]);
    expect(budget("more than $2/h")).toBeNull();
    expect(budget("500 images")).toBeNull();
  });

  it("says what is missing when the text does not say enough", () => {
    expect(parseWorkload("serve llama 3 8b").workloadInputReason).toBe(
      "Say how much traffic: concurrent users (“200 users”), requests (“10k requests a day”, “50 requests per second”) or tokens (“2M tokens/day”).");
    expect(parseWorkload("serve to 200 users").workloadInputReason).toBe(
      "Name the model to serve, one of the LLM presets: llama-3-8b, llama-3-70b, llama-3.1-405b, mistral-7b, mixtral-8x7b, qwen-2.5-72b, deepseek-v3 (e.g. “llama 3 70b”).");
    expect(parseWorkload("fine-tune llama on 1B tokens").workloadInputReason).toBe("“llama” has no parameter count; give the size, e.g. “a 7B model” or “llama 3 8b”.");
    expect(parseWorkload("flux, 1000 images a day").workloadInputReason).toBe("There is no preset for “flux”; estimateWorkload knows SDXL 1.0 base and Stable Diffusion 1.5.");
    expect(parseWorkload("hello there").workloadInputReason).toMatch(/^The text does not say what to run/);
  });

  it("every input it builds is one the domain estimator accepts", () => {
    const periodHours = { HOUR: 1, DAY: 24, WEEK: 168, MONTH: 730 } as const;
    for (const [text] of PHRASINGS) {
      const w = parseWorkload(text).workloadInput;
      if (!w) continue;
      const workload = w.inference ? { kind: "inference" as const, ...w.inference, precision: w.inference.precision ?? "FP16", periodHours: periodHours[w.inference.period] }
        : w.training ? { kind: "training" as const, ...w.training, precision: w.training.precision ?? "BF16" }
        : { kind: "image" as const, ...w.image!, periodHours: periodHours[w.image!.period] };
      expect(() => estimateWorkload(workload, [])).not.toThrow();
    }
  });
});

describe("parseWorkload: what it skips and how sure it is", () => {
  it("lists meaningful words it did not use, and leaves filler out", () => {
    const p = parseWorkload("please serve llama 3 8b to 100 users with a shiny dashboard");
    expect(p.notUnderstood).toEqual(["shiny dashboard"]);
    expect(p.confidence).toBe(0.88);  // 0.5 × 3/3 + 0.5 × 6 words used ÷ (6 + 2), rounded
  });

  it("refuses to exclude regions and vendor-only models, saying why", () => {
    const p = parseWorkload("serve gpt-4 to 100 users, not in China");
    expect(p.notUnderstood).toEqual(["gpt-4", "not in China"]);
    expect(p.offerFilter).toEqual({});
    expect(p.notes).toContain("“not in China”: the offer filter can only include countries, not exclude them; ignored.");
    expect(p.notes.some((n) => n.startsWith("“gpt-4” is served only by its vendor"))).toBe(true);
  });

  it("reads \"US\" as the country and \"us\" as the pronoun", () => {
    expect(parseWorkload("help us serve llama 3 8b to 5 users in the US").offerFilter).toEqual({ countries: ["US"] });
    expect(parseWorkload("help us serve llama 3 8b to 5 users").offerFilter).toEqual({});
  });

  it("has confidence 0 when nothing is understood, and lower when parts are missing", () => {
    expect(parseWorkload("hello there, how are you").confidence).toBe(0);
    expect(parseWorkload("serve llama 3 8b").confidence).toBe(0.83);  // 2 of 3 parts, every word used
  });
});

describe("parseWorkload: hostile text", () => {
  const problem = (text: string) => {
    try {
      parseWorkload(text);
    } catch (error) {
      expect(error).toBeInstanceOf(WorkloadTextError);
      return { code: (error as WorkloadTextError).code, message: (error as WorkloadTextError).message };
    }
    throw new Error("expected a WorkloadTextError");
  };

  it("rejects empty and blank text", () => {
    expect(problem("")).toEqual({ code: "EMPTY_TEXT", message: "text is empty: describe the workload, e.g. \"serve Llama 3 70B to 200 users in Europe\"." });
    expect(problem(" \n\t ").code).toBe("EMPTY_TEXT");
  });

  it("reads 2,000 characters and rejects 2,001 (counted as characters, not UTF-16 units)", () => {
    expect(MAX_WORKLOAD_TEXT_LENGTH).toBe(2000);
    expect(() => parseWorkload("a".repeat(2000))).not.toThrow();
    expect(problem("a".repeat(2001))).toEqual({ code: "TEXT_TOO_LONG", message: "text has 2001 characters; at most 2000 are read." });
    expect(() => parseWorkload("🚀".repeat(2000))).not.toThrow();
    expect(problem("🚀".repeat(2001)).code).toBe("TEXT_TOO_LONG");
  });

  it("rejects NUL and other control characters, but reads newlines and tabs", () => {
    expect(problem("serve llama\u0000 3 8b")).toEqual({ code: "CONTROL_CHARACTER", message: "text contains the control character U+0000 at position 11; only newlines and tabs are allowed." });
    expect(problem("a\u001Bb").code).toBe("CONTROL_CHARACTER");
    expect(problem("a\u007Fb").code).toBe("CONTROL_CHARACTER");
    expect(problem("a\u0085b").code).toBe("CONTROL_CHARACTER");
    expect(workloadTextProblem("serve llama 3 8b\n\tto 10 users\r\n")).toBeNull();
    expect(parseWorkload("serve llama 3 8b\n\tto 10 users").quantities).toEqual([{ text: "10 users", value: 10, unit: "CONCURRENT_USERS", period: null }]);
  });

  it("reads only emoji as nothing at all", () => {
    const p = parseWorkload("🚀🔥💯");
    expect(p).toMatchObject({ kind: null, model: null, quantities: [], understood: [], notUnderstood: [], confidence: 0, workloadInput: null, offerFilter: {} });
  });

  it("rejects absurd numbers with a reason instead of passing them on", () => {
    const huge = parseWorkload("999999999999999999999 images");
    expect(huge).toMatchObject({ kind: "IMAGE_GENERATION", quantities: [], notUnderstood: ["999999999999999999999 images"], workloadInput: null });
    expect(huge.notes).toEqual(["“999999999999999999999 images”: the number is more than 1e15, beyond any real workload; ignored."]);
    expect(huge.workloadInputReason).toBe("Say how many images (“500 images”, “1,000 images a day”).");
    expect(parseWorkload("1e308 tokens per day with llama 3 8b").notes[0]).toBe("“1e308 tokens per day”: the number is more than 1e15, beyond any real workload; ignored.");
    expect(parseWorkload("1e309 images").notes).toEqual(["“1e309 images”: the number is not a finite number; ignored."]);
    expect(parseWorkload("0 images").notes).toEqual(["“0 images”: the number is not a positive amount; ignored."]);
    expect(parseWorkload("train a 1e20b model").model).toBeNull();
    expect(parseWorkload("train llama 3 8b on 1B tokens for 1e308 hours").durationHours).toBeNull();
    const money = parseWorkload("$99999999999/h");
    expect(money.budget).toBeNull();
    expect(money.notes).toEqual(["“$99999999999/h” is not a usable budget (money amounts run from 0.0001 to 99999999.9999); ignored."]);
    expect(parseWorkload("under 5 euros an hour").notUnderstood).toEqual(["5 euros an hour"]);
    expect(parseWorkload("at least $2/h").budget).toBeNull();
  });

  it("never throws on text it accepts, and never outputs NaN, Infinity or a confidence outside 0–1", () => {
    const vocabulary = [
      "llama", "3", "70b", "8x7b", "$", "2/h", "per", "gpu", "hour", "1e308", "999999999999999999999", "images", "tokens/day", "users", "in",
      "for", "2", "weeks", "eu", "us-east-1", "US", "h100s", "4x", "a100", "80gb", "fine-tune", "lora", "from scratch", "sdxl", "1.5",
      "int4", "quantized", "cheapest", "not", "china", "budget", "k", "m", "b", "1,000", ",", ".", "-", "\n", "🚀", "qps", "a", "million",
      "two hundred", "embed", "documents", "epochs", "0", "-5", "e", "/", "x", "at least", "€",
    ];
    const word = fc.oneof(fc.constantFrom(...vocabulary), fc.string({ maxLength: 4 }), fc.string({ unit: "grapheme", maxLength: 3 }));
    const finite = (v: unknown): boolean => (typeof v === "number" ? Number.isFinite(v)
      : Array.isArray(v) ? v.every(finite) : v !== null && typeof v === "object" ? Object.values(v).every(finite) : true);
    fc.assert(fc.property(fc.array(word, { maxLength: 60 }).map((words) => words.join(" ")), (text) => {
      if (workloadTextProblem(text)) return;
      const p = parseWorkload(text);
      expect(finite(p)).toBe(true);
      expect(p.confidence).toBeGreaterThanOrEqual(0);
      expect(p.confidence).toBeLessThanOrEqual(1);
    }), { numRuns: 2000 });
  });
});
