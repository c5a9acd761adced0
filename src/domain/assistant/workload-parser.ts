// Free text → a typed workload, by fixed rules (no model): "serve Llama 3 70B to 200 users in Europe,
// cheapest" becomes a kind, model, volume, regions, budget and hints, plus the estimateWorkload input and
// offer filter they imply. Every phrase it used is listed with its meaning, every one it skipped as such.
import { COUNTRY_WORDS, countryForRegion } from "../catalog/region.ts";
import { gpuModelsNamed } from "../gpu/normalize.ts";
import { LlmInputError, MODEL_PRESETS, type ModelPresetName, type Precision } from "../math/llm.ts";
import {
  estimateWorkload, IMAGE_MODEL_PRESETS, PERIOD_HOURS, WorkloadInputError, type ImageModelName, type WorkloadInput, type WorkloadPeriod,
} from "../math/workload.ts";
import { Decimal, formatMoney, roundMoney } from "../money.ts";
import type { OfferFilterInput } from "../offers/filter.ts";

// ---------------------------------------------------------------- Types

export type ParsedKind = "LLM_INFERENCE" | "FINE_TUNING" | "TRAINING" | "IMAGE_GENERATION" | "EMBEDDING_BATCH";
export type QuantityUnit = "IMAGES" | "TOKENS" | "REQUESTS" | "CONCURRENT_USERS" | "DOCUMENTS" | "EXAMPLES" | "EPOCHS" | "GPUS";
export type QuantityPeriod = "SECOND" | "MINUTE" | "HOUR" | "DAY" | "WEEK" | "MONTH" | "YEAR";
export type WorkloadHint = "CHEAPEST" | "LOW_LATENCY" | "FAST" | "RELIABLE" | "SPOT";

export interface ParsedModel {
  /** As written. */
  text: string;
  /** The preset's or image model's name, else a tidy form of what was written ("Llama 2 7B"). */
  name: string;
  preset: ModelPresetName | null;
  imageModel: ImageModelName | null;
  /** All parameters: the preset's, or the size written ("7b" → 7e9). */
  parameters: number | null;
  /** An image model (imageModel is null when it has no preset). */
  isImageModel: boolean;
}
export interface ParsedQuantity { text: string; value: number; unit: QuantityUnit; period: QuantityPeriod | null }
export interface ParsedRegion { text: string; countries: string[] }
/** A GPU named: the canonical models it covers (a family without memory size or form factor covers every variant). */
export interface ParsedGpu { text: string; gpuModels: string[]; count: number | null }
export interface ParsedBudget {
  maxPricePerHour: Decimal | null;
  maxPricePerGpuHour: Decimal | null;
  total: Decimal | null;
  /** The period a total is for ("$5k a month"), when said. */
  totalPeriod: QuantityPeriod | null;
}
export interface UnderstoodPhrase { text: string; meaning: string }

/** estimateWorkload's `input`: exactly one kind, only what the text said or an assumption derived. */
export interface ParsedWorkloadInput {
  inference?: {
    model: ModelPresetName; precision?: Precision; batch?: number; requestsPerPeriod?: number; tokensPerRequest?: number;
    tokensPerPeriod?: number; promptTokens?: number; period: WorkloadPeriod;
  };
  training?: { parameters: number; tokens: number; precision?: "FP16" | "BF16" | "FP8"; targetHours?: number };
  image?: { model: ImageModelName; imagesPerPeriod: number; period: WorkloadPeriod };
}

export interface ParsedWorkload {
  kind: ParsedKind | null;
  model: ParsedModel | null;
  precision: Precision | null;
  quantities: ParsedQuantity[];
  durationHours: number | null;
  regions: ParsedRegion[];
  gpus: ParsedGpu[];
  budget: ParsedBudget | null;
  hints: WorkloadHint[];
  understood: UnderstoodPhrase[];
  notUnderstood: string[];
  notes: string[];
  assumptions: string[];
  confidence: number;
  workloadInput: ParsedWorkloadInput | null;
  workloadInputReason: string | null;
  offerFilter: OfferFilterInput;
}

// ---------------------------------------------------------------- Limits and assumptions

export const MAX_WORKLOAD_TEXT_LENGTH = 2000;
/** Larger counts describe no real workload (Llama 3 trained on 1.5e13 tokens); capping keeps every product finite. */
export const MAX_QUANTITY = 1e15;
/** Ten times the largest open model's parameters is still a model; beyond that it is a typo. */
export const MAX_PARAMETERS = 1e13;
/** Ten years. */
export const MAX_DURATION_HOURS = 87_600;
/** The money columns hold numeric(12,4). */
const MAX_MONEY = new Decimal("99999999.9999");
/** GPUs in one instance: the largest offers have 8–16; 64 leaves room for pods. */
const MAX_GPU_COUNT = 64;

/** Chat traffic behind "N concurrent users" and "N requests" (named so the answer can quote them). */
export const CHAT_ASSUMPTIONS = {
  /** One message every two minutes while a user is active. */
  requestsPerUserPerHour: 30,
  /** A typical chat answer. */
  generatedTokensPerRequest: 300,
  /** System prompt, history and question. */
  promptTokensPerRequest: 1000,
  /** Sequences one instance decodes together (vLLM-style continuous batching); fewer users batch fewer. */
  maxBatch: 32,
} as const;
/** Offline jobs batch as much as the chat case does at most. */
export const BATCH_JOB_BATCH = 32;
/** A document or chunk read in one pass (embedding, or a batch job over documents). */
export const DOCUMENT_TOKENS = 512;
/** What a batch job writes per document (a label, a summary line, extracted fields). */
export const BATCH_GENERATED_TOKENS_PER_DOCUMENT = 100;
/** A fine-tuning example (instruction + answer). */
export const TOKENS_PER_EXAMPLE = 512;
/** "a 13B model" with no preset is costed as the preset nearest in size, if within this fraction of it. */
export const SIZE_MATCH_TOLERANCE = 0.15;

// ---------------------------------------------------------------- Text checks

export type WorkloadTextErrorCode = "EMPTY_TEXT" | "TEXT_TOO_LONG" | "CONTROL_CHARACTER";

export class WorkloadTextError extends Error {
  constructor(readonly code: WorkloadTextErrorCode, message: string) {
    super(message);
    this.name = "WorkloadTextError";
  }
}

// What a person's text may not hold: C0 and C1 controls and DEL, except tab, newline and carriage return
// (a Windows newline). Chat messages use the same rule.
export const TEXT_CONTROL_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/u;

/** Why the text cannot be parsed, or null. Length counts characters (code points), not bytes. */
export function workloadTextProblem(text: string): WorkloadTextError | null {
  if (typeof text !== "string" || text.trim() === "") return new WorkloadTextError("EMPTY_TEXT", "text is empty: describe the workload, e.g. \"serve Llama 3 70B to 200 users in Europe\".");
  const length = [...text].length;
  if (length > MAX_WORKLOAD_TEXT_LENGTH) {
    return new WorkloadTextError("TEXT_TOO_LONG", `text has ${length} characters; at most ${MAX_WORKLOAD_TEXT_LENGTH} are read.`);
  }
  const control = TEXT_CONTROL_CHARACTER.exec(text);
  if (control) {
    const code = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    return new WorkloadTextError("CONTROL_CHARACTER", `text contains the control character U+${code} at position ${control.index}; only newlines and tabs are allowed.`);
  }
  return null;
}

// ---------------------------------------------------------------- Vocabulary (data)

const NUMBER_WORDS: Readonly<Record<string, number>> = {
  one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10, eleven: 11, twelve: 12,
  fifteen: 15, twenty: 20, thirty: 30, forty: 40, fifty: 50, hundred: 100,
};
const MAGNITUDES: Readonly<Record<string, number>> = {
  k: 1e3, thousand: 1e3, m: 1e6, mil: 1e6, mn: 1e6, million: 1e6, b: 1e9, bn: 1e9, billion: 1e9, t: 1e12, trillion: 1e12,
};
const WORDS = Object.keys(NUMBER_WORDS).join("|");
const DIGITS = String.raw`\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:e[+-]?\d+)?|\.\d+`;
/** "500", "2M", "1.5 million", "3e9", "10k", "two hundred", "a million". */
const NUMBER = String.raw`(?<![\w.$])(?:(?:${DIGITS})(?:\s?(?:thousand|million|mil|mn|billion|bn|trillion)\b|(?:k|m|b|bn|t)\b)?|(?:(?:a|an|${WORDS})\s+)?(?:hundred|thousand|million|billion|trillion)\b|(?:${WORDS})\b)`;

const PERIOD_WORDS: ReadonlyArray<readonly [QuantityPeriod, string, string]> = [
  // [period, unit spellings, adverb]
  ["SECOND", "seconds?|secs?|s", "per\\s+second"],
  ["MINUTE", "minutes?|mins?", "per\\s+minute"],
  ["HOUR", "hours?|hrs?|h", "hourly"],
  ["DAY", "days?|d", "daily|nightly"],
  ["WEEK", "weeks?|wks?|w", "weekly"],
  ["MONTH", "months?|mos?", "monthly"],
  ["YEAR", "years?|yrs?|y", "yearly|annually|per\\s+annum"],
];
const PERIOD_UNIT = PERIOD_WORDS.map(([, unit]) => unit).join("|");
const PERIOD_ADVERB = PERIOD_WORDS.map(([, , adverb]) => adverb).join("|");
const periodOf = (word: string): QuantityPeriod =>
  PERIOD_WORDS.find(([, unit, adverb]) => new RegExp(`^(?:${unit}|${adverb})$`).test(word.replace(/\s+/g, " ")))![0];
const PERIOD_SUFFIX = String.raw`(?:\s*(?:/|\bper\b|\ban?\b|\beach\b|\bevery\b)\s*(?<per>${PERIOD_UNIT})\b|\s+(?<adverb>${PERIOD_ADVERB})\b)?`;
const PERIOD_LABEL: Readonly<Record<QuantityPeriod, string>> = { SECOND: "second", MINUTE: "minute", HOUR: "hour", DAY: "day", WEEK: "week", MONTH: "month", YEAR: "year" };

const UNITS: ReadonlyArray<readonly [QuantityUnit, string]> = [
  ["IMAGES", "images?|pictures?|pics|photos?|renders?|illustrations?|avatars?|thumbnails?"],
  ["TOKENS", "tokens?|toks?"],
  ["REQUESTS", "requests?|reqs?|queries|query|calls?|prompts?|messages?|completions?|conversations?|chats?|questions?"],
  ["CONCURRENT_USERS", "users?|customers?|people|clients?|sessions?|streams?|seats?"],
  ["DOCUMENTS", "documents?|docs|pages?|chunks?|passages?|records?|articles?|files?|pdfs?"],
  ["EXAMPLES", "examples?|samples?|pairs?"],
  ["EPOCHS", "epochs?"],
  ["GPUS", "gpus?|cards?|accelerators?"],
];
const UNIT_LABEL: Readonly<Record<QuantityUnit, string>> = {
  IMAGES: "images", TOKENS: "tokens", REQUESTS: "requests", CONCURRENT_USERS: "concurrent users", DOCUMENTS: "documents",
  EXAMPLES: "training examples", EPOCHS: "epochs", GPUS: "GPUs",
};
/** Units that carry their period: "50 qps", "1000 tps". */
const RATE_UNITS: ReadonlyArray<readonly [string, QuantityUnit, QuantityPeriod]> = [
  ["qps|rps", "REQUESTS", "SECOND"], ["rpm", "REQUESTS", "MINUTE"], ["tps", "TOKENS", "SECOND"], ["tpm", "TOKENS", "MINUTE"],
];

interface LlmFamily { family: string; pattern: string; label: string }
// Open model families people name; only the presets (MODEL_PRESETS) can be served by estimateWorkload, the
// rest still give a parameter count for training.
const LLM_FAMILIES: readonly LlmFamily[] = [
  { family: "codellama", pattern: "code[\\s-]?llama", label: "Code Llama" },
  { family: "llama", pattern: "(?:meta[\\s-]?)?llama", label: "Llama" },
  { family: "mixtral", pattern: "mixtral", label: "Mixtral" },
  { family: "mistral", pattern: "mistral", label: "Mistral" },
  { family: "qwen", pattern: "qwen", label: "Qwen" },
  { family: "deepseek", pattern: "deep[\\s-]?seek", label: "DeepSeek" },
  { family: "falcon", pattern: "falcon", label: "Falcon" },
  { family: "gemma", pattern: "gemma", label: "Gemma" },
  { family: "phi", pattern: "phi", label: "Phi" },
  { family: "olmo", pattern: "olmo", label: "OLMo" },
  { family: "gpt-oss", pattern: "gpt[\\s-]?oss", label: "gpt-oss" },
  { family: "starcoder", pattern: "starcoder", label: "StarCoder" },
  { family: "nemotron", pattern: "nemotron", label: "Nemotron" },
  { family: "command-r", pattern: "command[\\s-]?r", label: "Command R" },
];

// (family, versions written that share the preset's architecture, size in B) → preset; "" = not written.
// Llama 3.1/3.3 8B and 70B only extend the context of Llama 3; DeepSeek-R1 is DeepSeek-V3's architecture.
const PRESET_ALIASES: ReadonlyArray<readonly [family: string, versions: readonly string[], size: string, preset: ModelPresetName]> = [
  ["llama", ["3", "3.1", ""], "8", "llama-3-8b"],
  ["llama", ["3", "3.1", "3.3", ""], "70", "llama-3-70b"],
  ["llama", ["3.1", "3", ""], "405", "llama-3.1-405b"],
  ["mistral", ["", "0.1", "0.2", "0.3"], "7", "mistral-7b"],
  ["mistral", ["", "0.1", "0.2", "0.3"], "", "mistral-7b"],
  ["mixtral", [""], "8x7", "mixtral-8x7b"],
  ["mixtral", [""], "", "mixtral-8x7b"],
  ["qwen", ["2.5", ""], "72", "qwen-2.5-72b"],
  ["deepseek", ["v3", "r1", ""], "671", "deepseek-v3"],
  ["deepseek", ["v3", "r1", ""], "", "deepseek-v3"],
];

/** Models only their vendor serves: nothing to rent GPUs for. */
const HOSTED_ONLY = String.raw`chat\s?gpt|gpt[\s-]?(?:3\.5|4(?:\.1)?o?|5)(?:[\s-]?(?:turbo|mini))?|claude(?:\s+\d(?:\.\d)?)?(?:\s+(?:opus|sonnet|haiku))?|gemini(?:\s+\d(?:\.\d)?)?(?:\s+(?:pro|flash|ultra))?`;

const IMAGE_MODEL_PATTERN = String.raw`\b(?:stable[\s-]?diffusion|sd)[\s-]?(?<v>xl|1\.5|v?1[.-]?5|2(?:\.[01])?|3(?:\.5)?)(?:[\s-]?(?:base|turbo|1\.0))?\b|\bstable[\s-]?diffusion\b|\bsdxl(?:[\s-]?(?:1\.0|base|turbo|lightning))?\b|\b(?<other>flux(?:\.1)?(?:[\s-]?(?:dev|schnell|pro))?|midjourney|dall-?e(?:[\s-]?\d)?|imagen|kandinsky)\b`;

const PRECISION_WORDS: ReadonlyArray<readonly [string, Precision | null]> = [
  ["fp16|float16|half[\\s-]precision", "FP16"],
  ["bf16|bfloat16", "BF16"],
  ["fp8|float8", "FP8"],
  ["int8|8[\\s-]?bits?|q8(?:_0)?|w8a8", "INT8"],
  ["int4|4[\\s-]?bits?|q4(?:_k_m|_k|_0)?|awq|gptq|nf4|gguf", "INT4"],
  ["quanti[sz](?:ed|ation)", "INT8"],
  ["fp32|float32|full[\\s-]precision", null],
];

// The kind words, strongest first (the first kind found in this order wins): a pre-training run that
// mentions fine-tuning is a training run; a fine-tune that says "training" or mentions serving is a fine-tune.
const KIND_WORDS: ReadonlyArray<readonly [string, ParsedKind]> = [
  ["pre[\\s-]?train(?:s|ed|ing)?|from\\s+scratch|foundation\\s+model", "TRAINING"],
  ["fine[\\s-]?tun(?:e|es|ed|ing)|finetun(?:e|es|ed|ing)|q?lora|peft|sft|instruction[\\s-]tun(?:e|ed|ing)|adapters?|rlhf|dpo", "FINE_TUNING"],
  ["train(?:s|ed|ing)?(?:\\s+run)?", "TRAINING"],
  ["text[\\s-]to[\\s-]image|image\\s+generation|images?|pictures?|photos?|diffusion|img2img|txt2img|artwork|illustrations?", "IMAGE_GENERATION"],
  ["embed(?:s|ded|ding|dings)?|vectori[sz](?:e|es|ed|ing|ation)|vector\\s+(?:search|database|db|store)|batch(?:es|ed)?(?:\\s+(?:jobs?|processing|inference))?|offline|bulk", "EMBEDDING_BATCH"],
  ["serv(?:e|es|ed|ing)|host(?:s|ed|ing)?|deploy(?:s|ed|ing|ment)?|chat\\s?bots?|chat|bots?|assistants?|apis?|endpoints?|inference|completions?|copilot", "LLM_INFERENCE"],
];
const KIND_LABEL: Readonly<Record<ParsedKind, string>> = {
  LLM_INFERENCE: "LLM inference", FINE_TUNING: "fine-tuning", TRAINING: "training", IMAGE_GENERATION: "image generation", EMBEDDING_BATCH: "embedding / batch",
};

const EU = ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"];
const EUROPE = [...EU, "GB", "CH", "NO", "IS", "LI"];
const ASIA = ["JP", "KR", "CN", "HK", "TW", "SG", "IN", "ID", "MY", "TH", "VN", "PH"];
const US_ONLY = "the offer filter works by country, so US regions are not told apart";
// Area words → ISO 3166-1 alpha-2 codes. Multi-word names come before the words they contain.
const AREAS: ReadonlyArray<readonly [pattern: string, label: string, countries: readonly string[], note?: string]> = [
  ["us[\\s-]?(?:east|west|central)(?:[\\s-]coast)?|(?:east|west)\\s+coast", "United States", ["US"], US_ONLY],
  ["united\\s+states(?:\\s+of\\s+america)?|u\\.s\\.a?\\.?", "United States", ["US"]],
  ["north(?:ern)?\\s+america", "North America", ["US", "CA", "MX"]],
  ["south\\s+america|latin\\s+america|latam", "Latin America", ["BR", "AR", "CL", "CO", "PE", "UY", "MX"]],
  ["americas", "the Americas", ["US", "CA", "MX", "BR", "AR", "CL", "CO"]],
  ["america", "United States", ["US"]],
  ["european\\s+union|eu", "the European Union", EU],
  ["europe(?:an)?", "Europe (EU, EEA, Switzerland, UK)", EUROPE],
  ["nordics?|scandinavia(?:n)?", "the Nordics", ["SE", "NO", "DK", "FI", "IS"]],
  ["asia[\\s-]?pacific|apac", "Asia-Pacific", [...ASIA, "AU", "NZ"]],
  ["(?:south\\s*east|east|south)\\s+asia|asia(?:n)?", "Asia", ASIA],
  ["middle\\s+east|mena", "the Middle East", ["AE", "SA", "QA", "IL", "BH", "OM", "KW", "JO"]],
  ["oceania", "Oceania", ["AU", "NZ"]],
  ["united\\s+kingdom|great\\s+britain|britain", "United Kingdom", ["GB"]],
  ["hong\\s+kong", "Hong Kong", ["HK"]],
  ["south\\s+korea", "South Korea", ["KR"]],
  ["new\\s+zealand", "New Zealand", ["NZ"]],
  ["south\\s+africa", "South Africa", ["ZA"]],
  ["czech\\s+republic", "Czechia", ["CZ"]],
  ["the\\s+netherlands|holland", "Netherlands", ["NL"]],
  ["united\\s+arab\\s+emirates", "United Arab Emirates", ["AE"]],
  ["africa", "Africa", ["ZA", "NG", "KE", "EG", "MA"]],
  ["saudi\\s+arabia", "Saudi Arabia", ["SA"]],
  // Countries the catalog's region words lack.
  ...Object.entries({
    china: "CN", philippines: "PH", turkey: "TR", qatar: "QA", bahrain: "BH", greece: "GR", luxembourg: "LU", lithuania: "LT",
    latvia: "LV", slovakia: "SK", slovenia: "SI", croatia: "HR", ukraine: "UA", peru: "PE", uruguay: "UY", kenya: "KE",
    nigeria: "NG", egypt: "EG", morocco: "MA",
  }).map(([word, code]) => [word, word[0]!.toUpperCase() + word.slice(1), [code]] as const),
  // Single country words ("germany", "uk", "japan", "singapore" …) come from the catalog's region names.
  [Object.keys(COUNTRY_WORDS).join("|"), "", []],
];
const NEGATION = /(?:\bnot|\boutside(?:\s+of)?|\bexcept|\bexcluding|\bavoid(?:ing)?|\bwithout|\bno)\s+(?:in\s+)?(?:the\s+)?$/;

const HINT_WORDS: ReadonlyArray<readonly [string, WorkloadHint]> = [
  ["cheapest|cheaper|cheap|lowest[\\s-](?:cost|price)|least\\s+expensive|inexpensive|affordable|budget[\\s-]friendly|on\\s+a\\s+budget|cost[\\s-]effective|economical|best\\s+(?:price|value|deal)|save\\s+money|low[\\s-]cost", "CHEAPEST"],
  ["low[\\s-]latency|latency|real[\\s-]?time|interactive|responsive|snappy|ttft|time\\s+to\\s+first\\s+token", "LOW_LATENCY"],
  ["fastest|faster|fast|quick(?:ly|est)?|asap|urgent(?:ly)?|high[\\s-]throughput|throughput", "FAST"],
  ["reliable|reliability|production(?:[\\s-]grade)?|uptime|sla|dependable|stable|enterprise|no\\s+interruptions?|high(?:ly)?\\s+availab(?:le|ility)", "RELIABLE"],
  ["spot|interruptible|preemptible|pre-emptible", "SPOT"],
];
const HINT_MEANING: Readonly<Record<WorkloadHint, string>> = {
  CHEAPEST: "hint: cheapest (compare the estimate's cost)", LOW_LATENCY: "hint: low latency", FAST: "hint: fast / high throughput",
  RELIABLE: "hint: reliable", SPOT: "hint: spot (offerFilter: spotOnly)",
};

// Words that carry no workload fact on their own.
const STOPWORDS = new Set((
  "a an the i i'm im we we're us our ours me my mine you your it its it's this that these those there here is are am be " +
  "been being was were will would can could should shall may might must do does did done have has had need needs needed " +
  "want wants wanted like to of in on at for from by with without using use used via into onto over under about around " +
  "approximately roughly approx maybe some any each every all and or but if so then than as what what's whats which who " +
  "whom how how's much many cost costs costing price prices pricing pay paying run running runs ran get getting give " +
  "find show tell please help looking look best good great options option recommend recommendation recommendations " +
  "suggest suggestion just also only model models gpu gpus cloud clouds provider providers machine machines instance " +
  "instances server servers compute hardware generate generating generated make making create creating process " +
  "processing handle handling support supporting up out per total estimate estimated i'd we'd let's lets hi hello hey " +
  "thanks thank anyone someone something know going go able possible ok okay plan planning setup set today now currently " +
  "new own custom data dataset open source open-source llm llms weights one ones e.g eg etc i.e ie vs versus compare " +
  "comparing between fit fits enough fine acceptable works way ways expect expecting startup company team business " +
  "building build app application product service customer"
).split(" "));

// ---------------------------------------------------------------- Reading: claimed spans

interface Phrase extends UnderstoodPhrase { start: number }

/** The text, lower-cased in place (same length), with the spans already read. */
class Reading {
  readonly lower: string;
  private readonly claimed: Uint8Array;
  readonly understood: Phrase[] = [];
  readonly skipped: Array<{ start: number; text: string }> = [];
  readonly notes: string[] = [];

  constructor(readonly text: string) {
    this.lower = normalise(text);
    this.claimed = new Uint8Array(text.length);
  }

  free(start: number, end: number): boolean {
    for (let i = start; i < end; i++) if (this.claimed[i]) return false;
    return true;
  }

  /** Every match of `pattern` over text not yet read; `use` returns a meaning to claim the match, or null to pass. */
  scan(pattern: string, use: (m: RegExpExecArray) => string | null): void {
    const re = new RegExp(pattern, "g");
    let m: RegExpExecArray | null;
    while ((m = re.exec(this.lower)) !== null) {
      const start = m.index;
      const end = start + m[0].length;
      if (end === start) { re.lastIndex = start + 1; continue; }
      if (!this.free(start, end)) { re.lastIndex = start + 1; continue; }
      const meaning = use(m);
      if (meaning === null) { re.lastIndex = start + 1; continue; }
      this.claim(start, end, meaning);
      re.lastIndex = end;
    }
  }

  claim(start: number, end: number, meaning: string): void {
    this.claimed.fill(1, start, end);
    this.understood.push({ start, text: this.text.slice(start, end).trim(), meaning });
  }

  /** A phrase read but not used (too large, unsupported): listed as not understood, with why. */
  reject(start: number, end: number, note: string): void {
    this.claimed.fill(1, start, end);
    this.skipped.push({ start, text: this.text.slice(start, end).trim() });
    this.notes.push(note);
  }

  excerpt(m: RegExpExecArray): string { return this.text.slice(m.index, m.index + m[0].length).trim(); }
}

// Same-length replacements only, so offsets in `lower` are offsets in the text.
const normalise = (text: string) => text
  .replace(/[A-Z]/g, (c) => c.toLowerCase())
  .replace(/[\u2010-\u2015\u2212]/g, "-")
  .replace(/[\u00a0\u2007\u202f]/g, " ")
  .replace(/\u00d7/g, "x")
  .replace(/[\u2018\u2019]/g, "'");

// ---------------------------------------------------------------- Numbers

/** "2M" → 2e6, "1.5 million" → 1.5e6, "two hundred" → 200, "1,000" → 1000; NaN when not a number. */
function numberValue(raw: string): number {
  const text = raw.trim().toLowerCase().replace(/,/g, "");
  const digits = /^(\d+(?:\.\d+)?(?:e[+-]?\d+)?|\.\d+)\s?([a-z]+)?$/.exec(text);
  if (digits) {
    const scale = digits[2] === undefined ? 1 : MAGNITUDES[digits[2]];
    return scale === undefined ? Number.NaN : Number(digits[1]) * scale;
  }
  let value = 1;
  for (const word of text.split(/\s+/)) {
    if (word === "a" || word === "an") continue;
    const factor = NUMBER_WORDS[word] ?? MAGNITUDES[word];
    if (factor === undefined) return Number.NaN;
    value *= factor;
  }
  return value;
}

/** Why a count cannot be used (not finite, zero, beyond `max`), or null. */
function countProblem(value: number, max = MAX_QUANTITY): string | null {
  if (!Number.isFinite(value)) return "is not a finite number";
  if (value <= 0) return "is not a positive amount";
  if (value > max) return `is more than ${max.toExponential().replace("e+", "e")}, beyond any real workload`;
  return null;
}

const sig = (n: number) => (Number.isInteger(n) && n < 1e15 ? n.toLocaleString("en-US") : String(Number(n.toPrecision(6))));
const billions = (n: number) => (n >= 1e9 ? `${Number((n / 1e9).toPrecision(4))}B` : `${Number((n / 1e6).toPrecision(4))}M`);

// ---------------------------------------------------------------- The parser

interface LlmMention {
  start: number; text: string; family: LlmFamily; version: string; size: string | null; experts: string | null; scale: number;
}

/** Reads the text. Throws WorkloadTextError when it is empty, too long or holds control characters. */
export function parseWorkload(text: string): ParsedWorkload {
  const problem = workloadTextProblem(text);
  if (problem) throw problem;
  const r = new Reading(text);

  const budget = readBudget(r);
  const regions: Array<ParsedRegion & { start: number }> = [];
  readCloudRegions(r, regions);
  const llms = readLlmModels(r);
  const images = readImageModels(r);
  let parameters = readParameterSizes(r, true);
  const gpus = readGpus(r);
  const precision = readPrecision(r);
  const quantities = readQuantities(r);
  const durations = readDurations(r);
  readLoosePeriods(r, quantities);
  if (parameters.length === 0) parameters = readParameterSizes(r, false);
  const kinds = readKinds(r);
  readRegionWords(r, regions);
  const hints = readHints(r);

  // ---- model
  const model = chooseModel(r, llms, images, parameters);

  // ---- kind: the strongest kind word, else what the units and model imply
  // A rejected quantity ("1e308 images") still says what kind of work it is.
  const unitKinds = quantities.map((q) => ({ kind: kindOfUnit(q), text: q.text })).filter((k): k is { kind: ParsedKind; text: string } => k.kind !== null);
  let kind: ParsedKind | null = null;
  if (kinds.length > 0) kind = [...kinds].sort((a, b) => a.rank - b.rank)[0]!.kind;
  else if (unitKinds.length > 0) kind = unitKinds[0]!.kind;
  else if (model?.isImageModel) {
    kind = "IMAGE_GENERATION";
    r.notes.push(`No word said what kind of work this is; read as image generation from “${model.text}”.`);
  } else if (model?.preset) {
    kind = "LLM_INFERENCE";
    r.notes.push(`No word said what kind of work this is; read as LLM inference (serving “${model.text}”). Say “fine-tune” or “train” otherwise.`);
  }
  if (kind) {
    const others = [...new Set([...kinds.map((k) => k.kind), ...unitKinds.map((k) => k.kind)])].filter((k) => k !== kind && !(kind === "TRAINING" && k === "FINE_TUNING") && !(kind === "FINE_TUNING" && k === "TRAINING"));
    if (others.length > 0) r.notes.push(`The text also reads as ${others.map((k) => KIND_LABEL[k]).join(" and ")}; this parse is the ${KIND_LABEL[kind]} part. Ask about the other part separately.`);
  }
  if (kinds.some((k) => /lora|peft|adapter/.test(k.word))) {
    r.notes.push("LoRA trains small adapters, but the estimate is a full fine-tune (every parameter, 6·N·D FLOPs and 16 bytes of optimiser state per parameter): read it as an upper bound.");
  }
  if (kinds.some((k) => /qlora/.test(k.word)) && precision === null) r.notes.push("QLoRA keeps the base weights in 4 bits; the estimate still assumes BF16 training.");

  const used = quantities.filter((q) => !q.rejected);
  const durationHours = durations[0]?.hours ?? null;
  if (durations.length > 1) r.notes.push(`Several durations given; “${durations[0]!.text}” is used.`);

  // ---- ready-to-use values
  const assumptions: string[] = [];
  const built = buildWorkloadInput({ kind, model, precision, quantities: used, durationHours, kinds }, assumptions, r.notes);
  const offerFilter = buildOfferFilter(regions, gpus, used, budget, hints, r.notes);

  // ---- what was skipped, and how sure we are
  const notUnderstood = skippedPhrases(r);
  const found = [kind !== null, model !== null, built.volume].filter(Boolean).length;
  const understoodWords = r.understood.reduce((n, p) => n + contentWords(p.text), 0);
  const skippedWords = notUnderstood.reduce((n, p) => n + contentWords(p), 0);
  const coverage = understoodWords + skippedWords === 0 ? 0 : understoodWords / (understoodWords + skippedWords);
  const confidence = understoodWords === 0 ? 0 : Math.round((0.5 * (found / 3) + 0.5 * coverage) * 100) / 100;

  return {
    kind,
    model,
    precision,
    quantities: used.map(({ text: t, value, unit, period }) => ({ text: t, value, unit, period })),
    durationHours,
    regions: regions.sort((a, b) => a.start - b.start).map(({ text: t, countries }) => ({ text: t, countries })),
    gpus: gpus.map(({ text: t, gpuModels, count }) => ({ text: t, gpuModels, count })),
    budget,
    hints,
    understood: r.understood.sort((a, b) => a.start - b.start).map(({ text: t, meaning }) => ({ text: t, meaning })),
    notUnderstood,
    notes: [...new Set(r.notes)],
    assumptions,
    confidence,
    workloadInput: built.input,
    workloadInputReason: built.input ? null : built.reason,
    offerFilter,
  };
}

// ---------------------------------------------------------------- Recognisers

function readBudget(r: Reading): ParsedBudget | null {
  const budget: ParsedBudget = { maxPricePerHour: null, maxPricePerGpuHour: null, total: null, totalPeriod: null };
  let any = false;
  const AMOUNT = String.raw`\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+`;
  const PRE = String.raw`(?<pre>\b(?:under|below|less\s+than|at\s+most|max(?:imum)?|up\s+to|no\s+more\s+than|cap(?:ped)?\s+at|within|budget(?:\s+(?:of|is|at))?|spend(?:ing)?(?:\s+(?:up\s+to|at\s+most))?|around|about|over|above|more\s+than|at\s+least|min(?:imum)?)\s*:?\s*)?`;
  const RATE = String.raw`(?<rate>\s*(?:/|\bper\b|\ban?\b|\beach\b)\s*(?:(?<gpuA>gpu)\s*(?:/|\bper\b|-)?\s*)?(?:h|hr|hrs|hour)\b(?:\s*(?:/|\bper\b)\s*(?<gpuB>gpu)\b)?|\s+hourly\b|\s*(?:/|\bper\b)\s*(?<gpuC>gpu)\b|\s*(?:/|\bper\b|\ban?\b|\beach\b)\s*(?<span>day|week|month|year|mo|yr)\b)?`;
  const POST = String.raw`(?<post>\s+(?:budget|total|in\s+total|max(?:imum)?|or\s+less|tops))?`;
  const use = (m: RegExpExecArray): string | null => {
    const g = m.groups!;
    const raw = g.a1 ?? g.a2 ?? g.a3;
    if (raw === undefined) return null;
    const scale = (g.k1 ?? g.k2 ?? g.k3) === "k" ? 1e3 : (g.k1 ?? g.k2 ?? g.k3) === "m" ? 1e6 : 1;
    const amount = new Decimal(raw.replace(/,/g, "")).mul(scale);
    const excerpt = r.excerpt(m);
    if (g.pre && /^(?:over|above|more\s+than|at\s+least|min(?:imum)?)\b/.test(g.pre.trim())) {
      r.reject(m.index, m.index + m[0].length, `“${excerpt}” is a minimum, not a budget; ignored.`);
      return null;
    }
    if (amount.lte(0) || amount.gt(MAX_MONEY)) {
      r.reject(m.index, m.index + m[0].length, `“${excerpt}” is not a usable budget (money amounts run from 0.0001 to ${formatMoney(MAX_MONEY)}); ignored.`);
      return null;
    }
    const money = roundMoney(amount);
    any = true;
    if (g.gpuA || g.gpuB || g.gpuC) {
      if (budget.maxPricePerGpuHour) return `budget: already $${formatMoney(budget.maxPricePerGpuHour)} per GPU-hour; this one is ignored`;
      budget.maxPricePerGpuHour = money;
      return `budget: at most $${formatMoney(money)} per GPU-hour (offerFilter: pricePerGpu.max)`;
    }
    if (g.rate && !g.span) {
      if (budget.maxPricePerHour) return `budget: already $${formatMoney(budget.maxPricePerHour)} per hour; this one is ignored`;
      budget.maxPricePerHour = money;
      return `budget: at most $${formatMoney(money)} per hour for the instance (offerFilter: price.max)`;
    }
    if (budget.total) return `budget: already $${formatMoney(budget.total)} in total; this one is ignored`;
    budget.total = money;
    budget.totalPeriod = g.span ? periodOf(g.span) : null;
    return `budget: $${formatMoney(money)} in total${budget.totalPeriod ? ` per ${PERIOD_LABEL[budget.totalPeriod]}` : ""} (compare with the estimate's cost)`;
  };
  r.scan(String.raw`${PRE}(?:\$\s?(?<a1>${AMOUNT})(?<k1>k|m)?\b|(?<a2>${AMOUNT})(?<k2>k|m)?\s?(?:usd|dollars?|bucks)\b)${RATE}${POST}`, use);
  r.scan(String.raw`(?<pre>\bbudget(?:\s+(?:of|is|at))?\s*:?\s*)(?<a3>${AMOUNT})(?<k3>k|m)?\b${RATE}${POST}`, use);
  r.scan(String.raw`(?:(?:€|£)\s?(?:${AMOUNT})(?:k|m)?\b|(?<![\w.])(?:${AMOUNT})(?:k|m)?\s?(?:€|£|eur\b|euros?\b|gbp\b|pounds?\b))${RATE}`, (m) => {
    r.reject(m.index, m.index + m[0].length, `“${r.excerpt(m)}”: prices here are in US dollars; give the budget in $.`);
    return null;
  });
  return any ? budget : null;
}

function readCloudRegions(r: Reading, regions: Array<ParsedRegion & { start: number }>): void {
  r.scan(String.raw`\b[a-z]{2,14}(?:-[a-z]{2,14}){1,2}-?\d{1,2}(?:-?[a-z])?\b`, (m) => {
    const country = countryForRegion(m[0]);
    if (!country) return null;
    regions.push({ start: m.index, text: r.excerpt(m), countries: [country] });
    return `region: cloud region ${m[0]} → ${country}`;
  });
}

function readLlmModels(r: Reading): LlmMention[] {
  const mentions: LlmMention[] = [];
  const families = LLM_FAMILIES.map((f) => `(?<f_${f.family.replace(/-/g, "_")}>${f.pattern})`).join("|");
  const pattern = String.raw`\b(?:${families})(?:[\s:_-]*(?<version>v?\d{1,2}(?:\.\d)?|r1)(?![\d.]|\s?b\b|\s?x\s?\d))?(?:[\s:_-]*(?<experts>\d+)\s?x\s?(?<expertSize>\d+(?:\.\d+)?)\s?b\b|[\s:_-]*(?<size>\d+(?:\.\d+)?)\s?(?<scale>b|m)\b)?(?:[\s_-]*(?:instruct|chat|base|hf|v\d(?:\.\d)?)|[_-]it)*\b`;
  r.scan(pattern, (m) => {
    const g = m.groups!;
    const family = LLM_FAMILIES.find((f) => g[`f_${f.family.replace(/-/g, "_")}`] !== undefined)!;
    const size = g.expertSize !== undefined ? `${g.experts}x${g.expertSize}` : (g.size ?? null);
    mentions.push({
      start: m.index, text: r.excerpt(m), family, version: (g.version ?? "").replace(/^v(?=\d)/, family.family === "deepseek" ? "v" : ""),
      size, experts: g.experts ?? null, scale: g.scale === "m" ? 1e6 : 1e9,
    });
    return "model";  // meaning set once the model is chosen
  });
  r.scan(String.raw`\b(?:${HOSTED_ONLY})\b`, (m) => {
    r.reject(m.index, m.index + m[0].length, `“${r.excerpt(m)}” is served only by its vendor, so there are no GPUs to rent for it; name an open model (${Object.keys(MODEL_PRESETS).join(", ")}).`);
    return null;
  });
  return mentions;
}

function readImageModels(r: Reading): Array<{ start: number; text: string; model: ImageModelName | null; name: string }> {
  const found: Array<{ start: number; text: string; model: ImageModelName | null; name: string }> = [];
  r.scan(IMAGE_MODEL_PATTERN, (m) => {
    const text = r.excerpt(m);
    const other = m.groups?.other;
    if (other) {
      found.push({ start: m.index, text, model: null, name: text });
      return `model: ${text}, an image model without a preset (known: ${Object.values(IMAGE_MODEL_PRESETS).map((s) => s.name).join(", ")})`;
    }
    const version = m.groups?.v ?? "";
    const model: ImageModelName = /^v?1[.-]?5$/.test(version) ? "sd-1.5" : "sdxl";
    found.push({ start: m.index, text, model, name: IMAGE_MODEL_PRESETS[model].name });
    if (version === "" && !/xl/.test(m[0])) r.notes.push(`“${text}” without a version is read as SDXL; say “1.5” for Stable Diffusion 1.5.`);
    if (/^[23]/.test(version)) r.notes.push(`There is no preset for “${text}”; it is costed as SDXL, the closest one.`);
    return `model: ${IMAGE_MODEL_PRESETS[model].name} (image model ${model})`;
  });
  return found;
}

/** `explicit`: "a 13B model", "7b params", "13 billion parameters"; otherwise a bare "13B". */
function readParameterSizes(r: Reading, explicit: boolean): Array<{ start: number; text: string; parameters: number }> {
  const found: Array<{ start: number; text: string; parameters: number }> = [];
  const SCALE = String.raw`(?<scale>b|bn|billion|m|million|t|trillion)`;
  const pattern = explicit
    ? String.raw`(?:\b(?:a|an)\s+)?(?<![\w.])(?<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?(?:e\d+)?)\s?(?:${SCALE}[\s-]*(?:param(?:eter)?s?(?:\s+(?:model|llm))?|(?:model|llm))|[\s-]*(?<plain>param(?:eter)?s))\b`
    : String.raw`(?<![\w.$])(?<num>\d+(?:\.\d+)?)(?<scale>b)\b`;
  r.scan(pattern, (m) => {
    const g = m.groups!;
    const scale = g.plain ? 1 : (MAGNITUDES[g.scale!] ?? MAGNITUDES[g.scale!.slice(0, 1)]!);
    const parameters = Number(g.num!.replace(/,/g, "")) * scale;
    const problem = countProblem(parameters, MAX_PARAMETERS);
    if (problem) {
      r.reject(m.index, m.index + m[0].length, `“${r.excerpt(m)}”: the parameter count ${problem}; ignored.`);
      return null;
    }
    found.push({ start: m.index, text: r.excerpt(m), parameters });
    return "model";
  });
  return found;
}

function readGpus(r: Reading): Array<ParsedGpu & { start: number }> {
  const gpus: Array<ParsedGpu & { start: number }> = [];
  const name = String.raw`(?:nvidia\s+|amd\s+|geforce\s+|tesla\s+|instinct\s+)*(?:(?:rtx|gtx)[\s-]?(?:pro[\s-]?)?a?\d{4}(?:[\s-]?(?:ti|super|ada))*|(?:rtx[\s-]?)?(?:30[6-9]0|40[6-9]0|50[6-9]0)(?:[\s-]?(?:ti|super))*|[a-z]{1,2}\d{1,4}[a-z]{0,2})(?:[\s-](?:sxm\d?|pcie|nvl))?(?:[\s-]?\d{2,3}\s?gb)?`;
  r.scan(String.raw`\b(?:(?<count>\d{1,4})\s?(?:x|\*)?\s?)?(?<name>${name})(?:'?s)?\b`, (m) => {
    const raw = m.groups!.name!;
    const spelled = /^\d{4}/.test(raw) ? `RTX ${raw}` : raw;
    let models = gpuModelsNamed(spelled);
    if (models.length === 0 && /s$/.test(spelled)) models = gpuModelsNamed(spelled.slice(0, -1));
    if (models.length === 0) return null;
    let count: number | null = m.groups!.count === undefined ? null : Number(m.groups!.count);
    if (count !== null && (count < 1 || count > MAX_GPU_COUNT)) {
      r.notes.push(`“${r.excerpt(m)}”: ${count} GPUs in one instance is outside 1–${MAX_GPU_COUNT}; the count is ignored.`);
      count = null;
    }
    gpus.push({ start: m.index, text: r.excerpt(m), gpuModels: models, count });
    return `GPU: ${count ? `${count} × ` : ""}${models.join(" or ")} (offerFilter: gpuModels${count ? ", gpuCount" : ""})`;
  });
  return gpus;
}

function readPrecision(r: Reading): Precision | null {
  let precision: Precision | null = null;
  for (const [words, value] of PRECISION_WORDS) {
    r.scan(String.raw`\b(?:${words})\b`, (m) => {
      if (value === null) {
        r.notes.push(`“${r.excerpt(m)}”: FP32 weights are not modelled; the estimate uses FP16 (training: BF16).`);
        return "precision: FP32 (not modelled; FP16 used)";
      }
      if (precision !== null && /quanti/.test(m[0])) return `precision: quantized (${precision})`;
      if (precision !== null && precision !== value) {
        r.notes.push(`Several precisions given; ${precision} is used.`);
        return `precision: ${value} (ignored: ${precision} came first)`;
      }
      precision = value;
      if (/quanti/.test(m[0])) r.notes.push(`“${r.excerpt(m)}” without a bit width is read as 8-bit (INT8); say “4-bit” for INT4.`);
      return `precision: ${value}`;
    });
  }
  return precision;
}

interface KindWord { kind: ParsedKind; word: string; rank: number }

interface RawQuantity extends ParsedQuantity { start: number; rejected: boolean }

function readQuantities(r: Reading): RawQuantity[] {
  const found: RawQuantity[] = [];
  const record = (m: RegExpExecArray, value: number, unit: QuantityUnit, period: QuantityPeriod | null): string | null => {
    const text = r.excerpt(m);
    const problem = countProblem(value);
    if (problem) {
      found.push({ start: m.index, text, value: 0, unit, period, rejected: true });
      r.reject(m.index, m.index + m[0].length, `“${text}”: the number ${problem}; ignored.`);
      return null;
    }
    found.push({ start: m.index, text, value, unit, period, rejected: false });
    const implicit = unit === "CONCURRENT_USERS" && !/concurrent|simultaneous|at\s+once|same\s+time|parallel/.test(m[0]);
    if (implicit) r.notes.push(`“${text}” is read as ${sig(value)} users active at the same time.`);
    return `volume: ${sig(value)} ${UNIT_LABEL[unit]}${period ? ` per ${PERIOD_LABEL[period]}` : ""}`;
  };
  for (const [words, unit, period] of RATE_UNITS) {
    r.scan(String.raw`(?<num>${NUMBER})\s?(?:${words})\b`, (m) => record(m, numberValue(m.groups!.num!), unit, period));
  }
  const units = UNITS.map(([unit, words]) => `(?<u_${unit}>${words})`).join("|");
  // Words allowed between a number and its unit ("200 concurrent users", "1B training tokens").
  const ADJECTIVES = String.raw`(?:(?:more|concurrent|simultaneous|active|parallel|daily|weekly|monthly|new|unique|distinct|total|output|input|generated|prompt|completion|training|fine-tuning|instruction|labell?ed|preference|high[\s-]?res(?:olution)?|hd|short|long|small|large|chat|api|user|customer|product|marketing|support|different|separate|of\s+(?:our|my|the|their))\s+){0,2}`;
  r.scan(String.raw`(?<num>${NUMBER})\s*${ADJECTIVES}(?:${units})\b(?:\s+(?:at\s+once|at\s+the\s+same\s+time|in\s+parallel))?${PERIOD_SUFFIX}`, (m) => {
    const g = m.groups!;
    const unit = UNITS.find(([u]) => g[`u_${u}`] !== undefined)![0];
    const word = g.per ?? g.adverb;
    return record(m, numberValue(g.num!), unit, word === undefined ? null : periodOf(word));
  });
  return found;
}

function readDurations(r: Reading): Array<{ text: string; hours: number }> {
  const found: Array<{ text: string; hours: number }> = [];
  const HOURS: Readonly<Record<string, number>> = { h: 1, d: 24, w: 168, m: 730, y: 8760 };
  const unit = String.raw`(?<unit>hours?|hrs?|h|days?|d|weeks?|wks?|months?|mos?|years?|yrs?)\b`;
  const use = (m: RegExpExecArray) => {
    const count = numberValue(m.groups!.num!.replace(/^(?:a|an)$/, "1"));
    const u = m.groups!.unit!;
    const hours = count * HOURS[u.startsWith("mo") ? "m" : u[0]!]!;
    const problem = countProblem(hours, MAX_DURATION_HOURS);
    if (problem) {
      r.reject(m.index, m.index + m[0].length, `“${r.excerpt(m)}”: the duration in hours ${problem.replace("beyond any real workload", "too long to plan")}; ignored.`);
      return null;
    }
    found.push({ text: r.excerpt(m), hours });
    return `duration: ${sig(hours)} hours`;
  };
  const PREP = String.raw`\b(?:for|in|within|over|during|under|in\s+under|in\s+less\s+than|less\s+than|taking|takes?|lasting|finish(?:ed)?\s+in|done\s+in|complete\s+in|deadline(?:\s+of)?)\s+(?:the\s+next\s+|about\s+|around\s+|roughly\s+|~\s*)?`;
  r.scan(String.raw`${PREP}(?<num>${NUMBER}|an?\b)\s*-?\s*${unit}`, use);
  r.scan(String.raw`(?<num>${NUMBER})\s*-?\s*(?<unit>hours?|hrs|days|weeks|months)\b`, use);
  return found;
}

/** "… 2M tokens. We need that daily": a lone period word applies to the one quantity without a period. */
function readLoosePeriods(r: Reading, quantities: RawQuantity[]): void {
  r.scan(String.raw`\b(?:(?:per|a|an|each|every)\s+(?<per>second|minute|hour|day|week|month|year)|(?<adverb>${PERIOD_ADVERB}))\b`, (m) => {
    const open = quantities.filter((q) => !q.rejected && q.period === null && ["IMAGES", "TOKENS", "REQUESTS", "DOCUMENTS"].includes(q.unit));
    if (open.length !== 1) return null;
    const period = periodOf(m.groups!.per ?? m.groups!.adverb!);
    open[0]!.period = period;
    return `period: per ${PERIOD_LABEL[period]} (for “${open[0]!.text}”)`;
  });
}

function readKinds(r: Reading): KindWord[] {
  const found: KindWord[] = [];
  for (const [rank, [words, kind]] of KIND_WORDS.entries()) {
    r.scan(String.raw`\b(?:${words})\b`, (m) => {
      found.push({ kind, word: m[0], rank });
      return `kind: ${KIND_LABEL[kind]}`;
    });
  }
  return found;
}

function readRegionWords(r: Reading, regions: Array<ParsedRegion & { start: number }>): void {
  const add = (m: RegExpExecArray, label: string, countries: readonly string[], note?: string): string | null => {
    const text = r.excerpt(m);
    const before = Math.max(0, m.index - 30);
    const negation = NEGATION.exec(r.lower.slice(before, m.index));
    if (negation && r.free(before + negation.index, m.index)) {
      r.reject(before + negation.index, m.index + m[0].length, `“${r.text.slice(before + negation.index, m.index + m[0].length).trim()}”: the offer filter can only include countries, not exclude them; ignored.`);
      return null;
    }
    regions.push({ start: m.index, text, countries: [...countries] });
    if (note) r.notes.push(`“${text}”: ${note}.`);
    return `region: ${label || text} → ${countries.length > 3 ? `${countries.length} countries (${countries.join(", ")})` : countries.join(", ")}`;
  };
  for (const [pattern, label, countries, note] of AREAS) {
    r.scan(String.raw`\b(?:${pattern})(?![\w-])`, (m) => add(m, label, countries.length ? countries : [COUNTRY_WORDS[m[0]]!], note));
  }
  // "US" in capitals is the country; "us" is the pronoun.
  const upper = /(?<![A-Za-z.])US(?:A)?(?![A-Za-z])/g;
  let m: RegExpExecArray | null;
  while ((m = upper.exec(r.text)) !== null) {
    if (r.free(m.index, m.index + m[0].length)) {
      const meaning = add(m, "United States", ["US"]);
      if (meaning) r.claim(m.index, m.index + m[0].length, meaning);
    }
  }
}

function readHints(r: Reading): WorkloadHint[] {
  const hints: WorkloadHint[] = [];
  for (const [words, hint] of HINT_WORDS) {
    r.scan(String.raw`\b(?:${words})\b`, () => {
      if (!hints.includes(hint)) hints.push(hint);
      return HINT_MEANING[hint];
    });
  }
  return hints;
}

// ---------------------------------------------------------------- Model

function resolvePreset(family: string, version: string, size: string | null): ModelPresetName | null {
  const alias = PRESET_ALIASES.find(([f, versions, s]) => f === family && versions.includes(version) && s === (size ?? ""));
  return alias?.[3] ?? null;
}

function chooseModel(
  r: Reading, llms: LlmMention[], images: Array<{ start: number; text: string; model: ImageModelName | null; name: string }>,
  sizes: Array<{ start: number; text: string; parameters: number }>,
): ParsedModel | null {
  const label = (phrase: { text: string }, meaning: string) => {
    const entry = r.understood.find((p) => p.meaning === "model" && p.text === phrase.text);
    if (entry) entry.meaning = meaning;
  };
  const model = pickModel(r, llms, images, sizes, label);
  for (const phrase of r.understood) if (phrase.meaning === "model") phrase.meaning = "model (another one: this parse uses the first)";
  return model;
}

function pickModel(
  r: Reading, llms: LlmMention[], images: Array<{ start: number; text: string; model: ImageModelName | null; name: string }>,
  sizes: Array<{ start: number; text: string; parameters: number }>, label: (phrase: { text: string }, meaning: string) => void,
): ParsedModel | null {
  const llm = llms[0];
  const image = images[0];
  if (llm && (!image || llm.start < image.start)) {
    let size = llm.size;
    let text = llm.text;
    // "llama 3 with 70B parameters": the family names the preset, the size picks it.
    const size0 = sizes[0];
    if (size === null && size0 && size0.parameters >= 1e9 && Number.isInteger(size0.parameters / 1e9)) {
      size = String(size0.parameters / 1e9);
      text = `${llm.text} … ${size0.text}`;
      label(size0, `model size: ${billions(size0.parameters)} parameters (with “${llm.text}”)`);
    }
    const preset = resolvePreset(llm.family.family, llm.version, size);
    if (images.length > 0) r.notes.push(`Both an LLM and an image model are named; the LLM “${llm.text}” is used.`);
    if (preset) {
      const spec = MODEL_PRESETS[preset];
      if (llm.version === "" && llm.family.family === "llama") r.notes.push(`“${llm.text}” names no version; read as ${spec.name}.`);
      if (llm.version !== "" && !spec.name.toLowerCase().replace(/\s/g, "").includes(llm.version) && llm.family.family !== "deepseek") {
        r.notes.push(`“${llm.text}” has the architecture of the ${preset} preset, which is used.`);
      }
      if (llm.version === "r1") r.notes.push(`DeepSeek-R1 has DeepSeek-V3's architecture; the ${preset} preset is used.`);
      label(llm, `model: ${spec.name} (preset ${preset}, ${billions(spec.parameters)} parameters)`);
      return { text, name: spec.name, preset, imageModel: null, parameters: spec.parameters, isImageModel: false };
    }
    const parameters = size !== null && llm.experts === null ? Number(size) * llm.scale : null;
    const name = [llm.family.label, llm.version.toUpperCase().replace(/^V(?=\d)/, "v"), size ? `${size.toUpperCase()}${llm.scale === 1e6 ? "M" : "B"}` : ""].filter(Boolean).join(" ");
    if (llm.experts !== null) r.notes.push(`“${llm.text}” is a mixture of experts; give its total parameter count (e.g. “141B parameters”) to cost training.`);
    label(llm, parameters === null
      ? `model: ${name} (no preset${llm.experts === null ? "; give its size, e.g. “70b”" : ""})`
      : `model: ${name} (no preset; ${billions(parameters)} parameters)`);
    return { text, name, preset: null, imageModel: null, parameters, isImageModel: false };
  }
  if (image) {
    if (sizes.length > 0) r.notes.push(`An image model is named, so “${sizes[0]!.text}” is not used.`);
    return { text: image.text, name: image.name, preset: null, imageModel: image.model, parameters: null, isImageModel: true };
  }
  const size0 = sizes[0];
  if (size0) {
    label(size0, `model size: ${billions(size0.parameters)} parameters`);
    return { text: size0.text, name: `a ${billions(size0.parameters)} model`, preset: null, imageModel: null, parameters: size0.parameters, isImageModel: false };
  }
  return null;
}

/** The preset within SIZE_MATCH_TOLERANCE of `parameters`, nearest first. */
function nearestPreset(parameters: number | null): ModelPresetName | null {
  if (parameters === null) return null;
  let best: ModelPresetName | null = null;
  let distance = Infinity;
  for (const [name, spec] of Object.entries(MODEL_PRESETS) as Array<[ModelPresetName, (typeof MODEL_PRESETS)[ModelPresetName]]>) {
    const d = Math.abs(spec.parameters - parameters) / parameters;
    if (d <= SIZE_MATCH_TOLERANCE && d < distance) { best = name; distance = d; }
  }
  return best;
}

function kindOfUnit(q: ParsedQuantity): ParsedKind | null {
  switch (q.unit) {
    case "IMAGES": return "IMAGE_GENERATION";
    case "CONCURRENT_USERS":
    case "REQUESTS": return "LLM_INFERENCE";
    case "TOKENS": return q.period === null ? null : "LLM_INFERENCE";
    case "DOCUMENTS": return "EMBEDDING_BATCH";
    case "EXAMPLES":
    case "EPOCHS": return "FINE_TUNING";
    case "GPUS": return null;
  }
}

// ---------------------------------------------------------------- Ready-to-use values

interface Parts {
  kind: ParsedKind | null;
  model: ParsedModel | null;
  precision: Precision | null;
  quantities: RawQuantity[];
  durationHours: number | null;
  kinds: KindWord[];
}

const PRESET_LIST = Object.keys(MODEL_PRESETS).join(", ");
const PERIODS = Object.entries(PERIOD_HOURS) as Array<[WorkloadPeriod, number]>;

/** A rate or total as estimateWorkload takes it: per HOUR/DAY/WEEK/MONTH. */
function perPeriod(q: ParsedQuantity, durationHours: number | null, assumptions: string[]): { value: number; period: WorkloadPeriod } {
  switch (q.period) {
    case "SECOND": return { value: q.value * 3600, period: "HOUR" };
    case "MINUTE": return { value: q.value * 60, period: "HOUR" };
    case "YEAR": return { value: q.value / 12, period: "MONTH" };
    case null: {
      const period = durationHours === null ? "MONTH" : (PERIODS.find(([, hours]) => hours >= durationHours)?.[0] ?? "MONTH");
      assumptions.push(`“${q.text}” is a total: costed as one ${PERIOD_LABEL[period]}'s volume${durationHours !== null && durationHours <= 730 ? ` (the shortest period that holds ${sig(durationHours)} hours)` : ""}; the cost does not depend on the period, the instance count does.`);
      return { value: q.value, period };
    }
    default: return { value: q.value, period: q.period };
  }
}

function buildWorkloadInput(p: Parts, assumptions: string[], notes: string[]): { input: ParsedWorkloadInput | null; reason: string; volume: boolean } {
  const first = (unit: QuantityUnit) => p.quantities.find((q) => q.unit === unit);
  const reasons: string[] = [];
  let input: ParsedWorkloadInput | null = null;
  let volume = false;
  switch (p.kind) {
    case null:
      return { input: null, reason: "The text does not say what to run: serve a model (“serve llama 3 70b to 200 users”), fine-tune or train one (“fine-tune llama 3 8b on 1B tokens”), or generate images (“500 images with SDXL”).", volume: p.quantities.length > 0 };
    case "LLM_INFERENCE":
    case "EMBEDDING_BATCH": {
      const embed = p.kind === "EMBEDDING_BATCH" && p.kinds.some((k) => /embed|vector/.test(k.word));
      const preset = servingPreset(p.model, assumptions);
      if (!preset) {
        reasons.push(embed
          ? `estimateWorkload has no embedding-model preset; name an LLM preset (${PRESET_LIST}) to cost the embedding as prompt-only inference.`
          : p.model?.isImageModel
            ? `“${p.model.text}” is an image model; name an LLM preset to serve (${PRESET_LIST}).`
            : p.model
              ? `“${p.model.text}” is not one of the LLM presets estimateWorkload can serve (${PRESET_LIST}); name one of them.`
              : `Name the model to serve, one of the LLM presets: ${PRESET_LIST} (e.g. “llama 3 70b”).`);
      }
      const precision = p.precision ? { precision: p.precision } : {};
      const tokens = first("TOKENS");
      const documents = first("DOCUMENTS");
      const requests = first("REQUESTS");
      const users = first("CONCURRENT_USERS");
      let body: Omit<NonNullable<ParsedWorkloadInput["inference"]>, "model"> | null = null;
      if (embed && (tokens || documents)) {
        const total = tokens ?? documents!;
        const { value, period } = perPeriod(total, p.durationHours, assumptions);
        const promptTokens = tokens ? value : value * DOCUMENT_TOKENS;
        if (!tokens) assumptions.push(`${DOCUMENT_TOKENS} tokens per document.`);
        assumptions.push(`Embedding is costed as prompt-only inference with the LLM: ${DOCUMENT_TOKENS}-token chunks, one generated token each.`);
        body = { requestsPerPeriod: promptTokens / DOCUMENT_TOKENS, tokensPerRequest: 1, promptTokens: DOCUMENT_TOKENS, period, ...precision };
      } else if (p.kind === "EMBEDDING_BATCH" && documents && !tokens) {
        const { value, period } = perPeriod(documents, p.durationHours, assumptions);
        body = { requestsPerPeriod: value, tokensPerRequest: BATCH_GENERATED_TOKENS_PER_DOCUMENT, promptTokens: DOCUMENT_TOKENS, batch: BATCH_JOB_BATCH, period, ...precision };
        assumptions.push(`Each document: ${DOCUMENT_TOKENS} prompt tokens read and ${BATCH_GENERATED_TOKENS_PER_DOCUMENT} tokens written; ${BATCH_JOB_BATCH} documents decoded together.`);
      } else if (tokens) {
        const { value, period } = perPeriod(tokens, p.durationHours, assumptions);
        assumptions.push(`“${tokens.text}” counts generated tokens (prompt tokens not included).`);
        body = { tokensPerPeriod: value, period, ...precision };
        if (p.kind === "EMBEDDING_BATCH") {
          body.batch = BATCH_JOB_BATCH;
          assumptions.push(`An offline batch job decodes ${BATCH_JOB_BATCH} sequences together.`);
        }
      } else if (requests) {
        const { value, period } = perPeriod(requests, p.durationHours, assumptions);
        body = { requestsPerPeriod: value, tokensPerRequest: CHAT_ASSUMPTIONS.generatedTokensPerRequest, promptTokens: CHAT_ASSUMPTIONS.promptTokensPerRequest, period, ...precision };
        assumptions.push(`Each request: ${CHAT_ASSUMPTIONS.promptTokensPerRequest} prompt tokens and ${CHAT_ASSUMPTIONS.generatedTokensPerRequest} generated tokens (a chat turn).`);
      } else if (users) {
        const perMonth = users.value * CHAT_ASSUMPTIONS.requestsPerUserPerHour * PERIOD_HOURS.MONTH;
        const batch = Math.max(1, Math.min(CHAT_ASSUMPTIONS.maxBatch, Math.floor(users.value)));
        body = {
          requestsPerPeriod: perMonth, tokensPerRequest: CHAT_ASSUMPTIONS.generatedTokensPerRequest, promptTokens: CHAT_ASSUMPTIONS.promptTokensPerRequest,
          batch, period: "MONTH", ...precision,
        };
        assumptions.push(
          `Each concurrent user sends ${CHAT_ASSUMPTIONS.requestsPerUserPerHour} requests an hour (one every ${60 / CHAT_ASSUMPTIONS.requestsPerUserPerHour} minutes), around the clock: ${sig(users.value)} × ${CHAT_ASSUMPTIONS.requestsPerUserPerHour} × ${PERIOD_HOURS.MONTH} h = ${sig(perMonth)} requests a month.`,
          `Each request: ${CHAT_ASSUMPTIONS.promptTokensPerRequest} prompt tokens and ${CHAT_ASSUMPTIONS.generatedTokensPerRequest} generated tokens (a chat turn).`,
          `Batch ${batch}: an instance decodes up to ${CHAT_ASSUMPTIONS.maxBatch} users' answers together (fewer users, smaller batch).`,
        );
      } else {
        reasons.push(p.kind === "EMBEDDING_BATCH"
          ? `Say how much to ${embed ? "embed" : "process"}: tokens (“1B tokens”) or documents (“10M documents”).`
          : "Say how much traffic: concurrent users (“200 users”), requests (“10k requests a day”, “50 requests per second”) or tokens (“2M tokens/day”).");
      }
      volume = body !== null;
      if (preset && body) input = { inference: { model: preset, ...body } };
      break;
    }
    case "FINE_TUNING":
    case "TRAINING": {
      const parameters = p.model?.parameters ?? null;
      if (parameters === null) {
        reasons.push(p.model
          ? `“${p.model.text}” has no parameter count; give the size, e.g. “a 7B model” or “llama 3 8b”.`
          : "Say which model: a preset (“llama 3 8b”) or its size (“a 7B model”).");
      } else if (p.model?.preset && MODEL_PRESETS[p.model.preset].activeParameters < parameters) {
        notes.push(`${MODEL_PRESETS[p.model.preset].name} is a mixture of experts: 6·N·D with all ${billions(parameters)} parameters overstates compute (${billions(MODEL_PRESETS[p.model.preset].activeParameters)} are active per token).`);
      }
      const tokens = first("TOKENS");
      const examples = first("EXAMPLES") ?? first("DOCUMENTS");
      const epochs = first("EPOCHS");
      let total: number | null = null;
      if (tokens) {
        total = tokens.value;
        if (tokens.period) notes.push(`“${tokens.text}”: a training run reads its tokens once; the period is ignored.`);
      } else if (examples) {
        total = examples.value * TOKENS_PER_EXAMPLE;
        assumptions.push(`${TOKENS_PER_EXAMPLE} tokens per training example: ${sig(examples.value)} × ${TOKENS_PER_EXAMPLE} = ${sig(total)} tokens.`);
      }
      if (total !== null && epochs) {
        total *= epochs.value;
        assumptions.push(`${sig(epochs.value)} epochs: the data is read ${sig(epochs.value)} times (${sig(total)} tokens).`);
      }
      if (total === null) reasons.push("Say how much data: training tokens (“on 1B tokens”) or examples (“50k examples”).");
      else if (total > MAX_QUANTITY) { reasons.push(`${sig(total)} training tokens is more than ${MAX_QUANTITY.toExponential()}, beyond any real run.`); total = null; }
      volume = total !== null;
      let precision: { precision?: "FP16" | "BF16" | "FP8" } = {};
      if (p.precision === "FP16" || p.precision === "BF16" || p.precision === "FP8") precision = { precision: p.precision };
      else if (p.precision) notes.push(`${p.precision} is an inference format; training is costed at BF16.`);
      if (parameters !== null && total !== null) {
        input = { training: { parameters, tokens: total, ...precision, ...(p.durationHours === null ? {} : { targetHours: p.durationHours }) } };
      }
      break;
    }
    case "IMAGE_GENERATION": {
      const images = first("IMAGES");
      let model: ImageModelName | null = "sdxl";
      if (p.model?.imageModel) model = p.model.imageModel;
      else if (p.model?.isImageModel) {
        model = null;
        reasons.push(`There is no preset for “${p.model.text}”; estimateWorkload knows ${Object.values(IMAGE_MODEL_PRESETS).map((s) => s.name).join(" and ")}.`);
      } else if (images) {
        assumptions.push("No image model named: costed as SDXL (1024×1024, 30 steps), estimateWorkload's default.");
      }
      if (!images) reasons.push("Say how many images (“500 images”, “1,000 images a day”).");
      volume = images !== undefined;
      if (model && images) {
        const { value, period } = perPeriod(images, p.durationHours, assumptions);
        input = { image: { model, imagesPerPeriod: value, period } };
      }
      break;
    }
  }
  if (input) {
    const problem = invalidWorkload(input);
    if (problem) return { input: null, reason: `The values read do not make a valid workload: ${problem}`, volume };
  }
  return { input, reason: reasons.join(" "), volume };
}

/** The preset to serve: the one named, else the one nearest a size written ("a 70B model"). */
function servingPreset(model: ParsedModel | null, assumptions: string[]): ModelPresetName | null {
  if (!model || model.isImageModel) return null;
  if (model.preset) return model.preset;
  const near = nearestPreset(model.parameters);
  if (near) {
    assumptions.push(`“${model.text}” has no preset: served as ${MODEL_PRESETS[near].name} (${billions(MODEL_PRESETS[near].parameters)} parameters), the preset within ${SIZE_MATCH_TOLERANCE * 100} % of its size.`);
  }
  return near;
}

/** The domain's own validation of the workload, so a client never gets an input the API rejects. */
function invalidWorkload(input: ParsedWorkloadInput): string | null {
  let workload: WorkloadInput;
  if (input.inference) {
    const { period, precision, ...rest } = input.inference;
    workload = { kind: "inference", ...rest, precision: precision ?? "FP16", periodHours: PERIOD_HOURS[period] };
  } else if (input.training) {
    workload = { kind: "training", ...input.training, precision: input.training.precision ?? "BF16" };
  } else {
    const { period, ...rest } = input.image!;
    workload = { kind: "image", ...rest, periodHours: PERIOD_HOURS[period] };
  }
  try {
    estimateWorkload(workload, []);
    return null;
  } catch (error) {
    if (error instanceof WorkloadInputError || error instanceof LlmInputError) return error.message;
    throw error;
  }
}

function buildOfferFilter(
  regions: ParsedRegion[], gpus: ParsedGpu[], quantities: RawQuantity[], budget: ParsedBudget | null, hints: WorkloadHint[], notes: string[],
): OfferFilterInput {
  const filter: OfferFilterInput = {};
  const countries = [...new Set(regions.flatMap((region) => region.countries))];
  if (countries.length) filter.countries = countries;
  const models = [...new Set(gpus.flatMap((g) => g.gpuModels))];
  if (models.length) filter.gpuModels = models;
  const counts = [...new Set([...gpus.map((g) => g.count), ...quantities.filter((q) => q.unit === "GPUS").map((q) => q.value)].filter((c): c is number => c !== null))];
  const count = counts[0];
  if (count !== undefined) {
    if (Number.isInteger(count) && count >= 1 && count <= MAX_GPU_COUNT) {
      filter.gpuCount = { min: count, max: count };
      notes.push(`${count} GPU${count > 1 ? "s" : ""} read as the GPUs of one instance (offerFilter: gpuCount ${count}).`);
    } else {
      notes.push(`${sig(count)} GPUs is not a whole number from 1 to ${MAX_GPU_COUNT}; no GPU count filter.`);
    }
    if (counts.length > 1) notes.push(`Several GPU counts given; ${count} is used.`);
  }
  if (budget?.maxPricePerHour) filter.price = { max: formatMoney(budget.maxPricePerHour) };
  if (budget?.maxPricePerGpuHour) filter.pricePerGpu = { max: formatMoney(budget.maxPricePerGpuHour) };
  if (hints.includes("SPOT")) filter.spotOnly = true;
  return filter;
}

// ---------------------------------------------------------------- What was skipped

const WORD = /[\p{L}\p{N}]+(?:['.-][\p{L}\p{N}]+)*/gu;

const contentWords = (phrase: string) => [...phrase.toLowerCase().matchAll(WORD)].filter((w) => !STOPWORDS.has(w[0])).length;

/** Runs of unread words that are not filler, as written, in text order. */
function skippedPhrases(r: Reading): string[] {
  const spans: Array<{ start: number; end: number }> = [];
  for (const w of r.lower.matchAll(WORD)) {
    const start = w.index;
    const end = start + w[0].length;
    if (!r.free(start, end) || STOPWORDS.has(w[0])) continue;
    if (!/\d/.test(w[0]) && [...w[0].matchAll(/\p{L}/gu)].length < 2) continue;
    const last = spans.at(-1);
    if (last && /^[\s-]*$/.test(r.lower.slice(last.end, start))) last.end = end;
    else spans.push({ start, end });
  }
  const phrases = [...r.skipped.map((s) => ({ start: s.start, text: s.text })), ...spans.map((s) => ({ start: s.start, text: r.text.slice(s.start, s.end) }))];
  return phrases.sort((a, b) => a.start - b.start).map((p) => p.text);
}
