// The assistant as an API: the parseWorkload query and its result types, and assistantStatus. The resolver calls
// src/services/assistant.ts; workloadInput and offerFilter are JSON strings a client passes unchanged as
// the `input` and `filter` variables of estimateWorkload / offers.
import {
  BATCH_GENERATED_TOKENS_PER_DOCUMENT, BATCH_JOB_BATCH, CHAT_ASSUMPTIONS, DOCUMENT_TOKENS, MAX_WORKLOAD_TEXT_LENGTH, SIZE_MATCH_TOLERANCE,
  TOKENS_PER_EXAMPLE, type ParsedKind, type QuantityPeriod, type QuantityUnit, type WorkloadHint,
} from "../domain/assistant/workload-parser.ts";
import type { ParseWorkloadResult } from "../services/assistant.ts";
import type { AssistantBackend, AssistantStatus, UpstreamState } from "../assistant/index.ts";
import { builder } from "./builder.ts";
import { documentedEnum, PrecisionEnum } from "./enums.ts";
import { IMAGE_MODEL_VALUES, ImageModelEnum } from "./workload.ts";

// ---------------------------------------------------------------- Types

const ParsedWorkloadKindEnum = documentedEnum<ParsedKind>("ParsedWorkloadKind", "What kind of work a text describes.", {
  LLM_INFERENCE: { description: "Serving an LLM: a chat app, an API, users, requests or tokens per second." },
  FINE_TUNING: { description: "Fine-tuning an existing model (LoRA and QLoRA included, costed as a full fine-tune: an upper bound)." },
  TRAINING: { description: "Training a model (pre-training, from scratch)." },
  IMAGE_GENERATION: { description: "Generating images (Stable Diffusion, SDXL)." },
  EMBEDDING_BATCH: { description: "Embeddings or an offline batch job over tokens or documents." },
});

const QuantityUnitEnum = documentedEnum<QuantityUnit>("QuantityUnit", "What a quantity counts.", {
  IMAGES: { description: "Images generated." },
  TOKENS: { description: "Tokens (generated, for serving; read, for training)." },
  REQUESTS: { description: "Requests, queries, prompts or messages." },
  CONCURRENT_USERS: { description: "Users active at the same time (\"200 users\" is read this way)." },
  DOCUMENTS: { description: "Documents, pages, chunks or records to process." },
  EXAMPLES: { description: "Training examples or samples." },
  EPOCHS: { description: "Passes over the training data." },
  GPUS: { description: "GPUs (read as the GPUs of one instance)." },
});

const QuantityPeriodEnum = documentedEnum<QuantityPeriod>("QuantityPeriod", "The period a quantity or budget is given for.", {
  SECOND: { description: "Per second." }, MINUTE: { description: "Per minute." }, HOUR: { description: "Per hour." },
  DAY: { description: "Per day." }, WEEK: { description: "Per week." }, MONTH: { description: "Per month." }, YEAR: { description: "Per year." },
});

const WorkloadHintEnum = documentedEnum<WorkloadHint>("WorkloadHint", "What the text asks to favour.", {
  CHEAPEST: { description: "Lowest cost (\"cheapest\", \"on a budget\")." },
  LOW_LATENCY: { description: "Low latency (\"real-time\", \"interactive\")." },
  FAST: { description: "Speed or throughput (\"fast\", \"asap\")." },
  RELIABLE: { description: "Reliability (\"production\", \"uptime\", \"SLA\")." },
  SPOT: { description: "Spot / interruptible capacity is fine (offerFilter sets spotOnly)." },
});

const ParsedModelRef = builder.simpleObject("ParsedModel", {
  description: "The model a text names.",
  fields: (t) => ({
    text: t.string({ description: "As written, e.g. \"Llama-3-70B\"." }),
    name: t.string({ description: "The preset's or image model's name, else a tidy form of what was written (\"Llama 2 7B\")." }),
    preset: t.string({ nullable: true, description: "The LLM preset it resolves to (estimateWorkload's and costPerToken's `model`), e.g. \"llama-3-70b\"; null when none fits." }),
    imageModel: t.field({ type: ImageModelEnum, nullable: true, description: "The image model it resolves to (\"stable diffusion\" → SDXL unless \"1.5\" is said)." }),
    parameters: t.float({ nullable: true, description: "All parameters: the preset's, or the size written (\"7b\" → 7e9)." }),
    isImageModel: t.boolean({ description: "True for an image model (imageModel is null when it has no preset, e.g. FLUX)." }),
  }),
});

const ParsedQuantityRef = builder.simpleObject("ParsedQuantity", {
  description: "A number with its unit, as read (\"2M tokens/day\" → 2000000, TOKENS, DAY).",
  fields: (t) => ({
    text: t.string({ description: "As written." }),
    value: t.float({ description: "The number (always finite, positive and at most 1e15)." }),
    unit: t.field({ type: QuantityUnitEnum, description: "What it counts." }),
    period: t.field({ type: QuantityPeriodEnum, nullable: true, description: "The period it is per; null for a total." }),
  }),
});

const ParsedRegionRef = builder.simpleObject("ParsedRegion", {
  description: "A place the text names, as countries.",
  fields: (t) => ({
    text: t.string({ description: "As written, e.g. \"Europe\", \"us-east\", \"eu-west-1\"." }),
    countries: t.stringList({ description: "ISO 3166-1 alpha-2 codes it stands for (offerFilter.countries)." }),
  }),
});

const ParsedGpuRef = builder.simpleObject("ParsedGpu", {
  description: "A GPU the text names.",
  fields: (t) => ({
    text: t.string({ description: "As written, e.g. \"4x A100 80GB\"." }),
    gpuModels: t.stringList({ description: "The canonical GPU models it covers: every variant of the family unless a memory size or form factor is written." }),
    count: t.int({ nullable: true, description: "GPUs written before it (\"4x\"), read as the GPUs of one instance." }),
  }),
});

const ParsedBudgetRef = builder.simpleObject("ParsedBudget", {
  description: "The money limits a text sets (US dollars).",
  fields: (t) => ({
    maxPricePerHour: t.field({ type: "Money", nullable: true, description: "Highest price per hour of an instance (\"under $2/h\"; offerFilter.price.max)." }),
    maxPricePerGpuHour: t.field({ type: "Money", nullable: true, description: "Highest price per GPU-hour (\"max $1.50 per GPU hour\"; offerFilter.pricePerGpu.max)." }),
    total: t.field({ type: "Money", nullable: true, description: "A total budget (\"budget $500\"): compare it with estimateWorkload's cost; not a filter." }),
    totalPeriod: t.field({ type: QuantityPeriodEnum, nullable: true, description: "The period the total is for (\"$5k a month\"), when said." }),
  }),
});

const UnderstoodPhraseRef = builder.simpleObject("UnderstoodPhrase", {
  description: "A phrase of the text and what it was read as.",
  fields: (t) => ({
    text: t.string({ description: "As written." }),
    meaning: t.string({ description: "What it was read as, e.g. \"volume: 500 images\"." }),
  }),
});

/** image.model as the ImageModel enum spells it (the JSON is GraphQL variables, not service values). */
const IMAGE_MODEL_NAMES = Object.fromEntries(Object.entries(IMAGE_MODEL_VALUES).map(([name, value]) => [value, name])) as Record<string, string>;
function workloadVariables(input: NonNullable<ParseWorkloadResult["workloadInput"]>) {
  return input.image ? { ...input, image: { ...input.image, model: IMAGE_MODEL_NAMES[input.image.model ?? "sdxl"] } } : input;
}

const ASSUMPTION_CONSTANTS = `${CHAT_ASSUMPTIONS.requestsPerUserPerHour} requests per concurrent user per hour, ${CHAT_ASSUMPTIONS.promptTokensPerRequest} prompt + ${CHAT_ASSUMPTIONS.generatedTokensPerRequest} generated tokens per request, batch up to ${CHAT_ASSUMPTIONS.maxBatch}; batch jobs: batch ${BATCH_JOB_BATCH}, ${DOCUMENT_TOKENS} tokens read and ${BATCH_GENERATED_TOKENS_PER_DOCUMENT} written per document; ${TOKENS_PER_EXAMPLE} tokens per training example; a size without a preset is served as the preset within ${SIZE_MATCH_TOLERANCE * 100} % of it`;

const ParsedWorkloadRef = builder.objectRef<ParseWorkloadResult>("ParsedWorkload").implement({
  description: "What a free-text workload description says, read by fixed rules (no model): what it understood, what it skipped, and ready-to-use estimateWorkload and offers variables.",
  fields: (t) => ({
    kind: t.field({ type: ParsedWorkloadKindEnum, nullable: true, description: "The kind of work; null when the text does not say. When several are mentioned the strongest wins (training > fine-tuning > image generation > embedding/batch > inference) and `notes` says so.", resolve: (p) => p.kind }),
    model: t.field({ type: ParsedModelRef, nullable: true, description: "The model named (the first, when several are).", resolve: (p) => p.model }),
    precision: t.field({ type: PrecisionEnum, nullable: true, description: "Weight precision said (\"4-bit\" → INT4, \"quantized\" → INT8).", resolve: (p) => p.precision }),
    quantities: t.field({ type: [ParsedQuantityRef], description: "Every quantity read, in text order (rejected ones, e.g. 1e308, are in notUnderstood instead).", resolve: (p) => p.quantities }),
    durationHours: t.float({ nullable: true, description: "A deadline or duration (\"in 48 hours\", \"within 3 days\") in hours; training uses it as targetHours.", resolve: (p) => p.durationHours }),
    regions: t.field({ type: [ParsedRegionRef], description: "Places named, as countries.", resolve: (p) => p.regions }),
    gpus: t.field({ type: [ParsedGpuRef], description: "GPUs named.", resolve: (p) => p.gpus }),
    budget: t.field({ type: ParsedBudgetRef, nullable: true, description: "Money limits; null when none is said.", resolve: (p) => p.budget }),
    hints: t.field({ type: [WorkloadHintEnum], description: "What the text asks to favour, in the order first said.", resolve: (p) => p.hints }),
    understood: t.field({ type: [UnderstoodPhraseRef], description: "Every phrase used, in text order, with its meaning.", resolve: (p) => p.understood }),
    notUnderstood: t.stringList({ description: "Phrases skipped that look meaningful (filler words are left out), in text order, including values rejected as unusable (see notes for why).", resolve: (p) => p.notUnderstood }),
    notes: t.stringList({ description: "Remarks on the reading: defaults taken, values rejected and why, parts ignored (e.g. that LoRA is costed as a full fine-tune, an upper bound).", resolve: (p) => p.notes }),
    assumptions: t.stringList({ description: `Numbers assumed to build workloadInput, with their values. The constants: ${ASSUMPTION_CONSTANTS}.`, resolve: (p) => p.assumptions }),
    confidence: t.float({
      description: "How complete and how fully read the text is, 0–1: 0.5 × completeness + 0.5 × coverage, rounded to 2 decimals. Completeness = the share of {kind, model, volume} found; coverage = content words used ÷ (used + skipped), filler words not counted. 0 when nothing was understood; 1 means every content word was used and all three parts were found.",
      resolve: (p) => p.confidence,
    }),
    workloadInput: t.string({
      nullable: true,
      description: "The workload as JSON, ready to pass unchanged as estimateWorkload's `input` variable (e.g. {\"training\":{\"parameters\":7000000000,\"tokens\":1000000000}}); only what the text said or `assumptions` derived, defaults left to estimateWorkload. Null when the text does not say enough: see workloadInputReason.",
      resolve: (p) => (p.workloadInput ? JSON.stringify(workloadVariables(p.workloadInput)) : null),
    }),
    workloadInputReason: t.string({ nullable: true, description: "Why workloadInput is null (what to add to the text); null when it is set.", resolve: (p) => p.workloadInputReason }),
    offerFilter: t.string({
      description: "An OfferFilter as JSON, ready to pass unchanged as the `filter` variable of offers or estimateWorkload: countries, GPU models the catalog lists, GPU count, price limits, spotOnly. \"{}\" when the text sets no condition.",
      resolve: (p) => JSON.stringify(p.offerFilter),
    }),
  }),
});

// ---------------------------------------------------------------- Queries

builder.queryField("parseWorkload", (t) => t.field({
  type: ParsedWorkloadRef,
  description: "Reads a free-text workload description (\"serve Llama 3 70B to 200 users in Europe, cheapest\") into a typed workload by fixed rules: kind, model, precision, quantities, duration, regions, GPUs, budget and hints, with what it understood and what it did not, a confidence, and ready-to-use estimateWorkload `input` and offers `filter` variables. Deterministic; no model is involved.",
  args: {
    text: t.arg.string({ required: true, description: `What the person typed: at most ${MAX_WORKLOAD_TEXT_LENGTH.toLocaleString("en-US")} characters, no control characters except newline and tab.` }),
  },
  resolve: (_root, args, ctx) => ctx.services.assistant.parseWorkload(args, ctx.actor),
}));

// ---------------------------------------------------------------- assistantStatus

const AssistantBackendEnum = builder.enumType("AssistantBackend", {
  description: "Who writes the assistant's answers (ASSISTANT_BACKEND).",
  values: {
    BUILTIN: { value: "builtin", description: "The built-in rule-based planner: offline, no model." },
    OPENAI: { value: "openai", description: "An OpenAI-compatible chat-completions server (OpenAI, vLLM, llama.cpp server, Ollama, LM Studio)." },
    SOMA: { value: "soma", description: "SomaAgent, the replaced system's agent service." },
  } satisfies Record<string, { value: AssistantBackend; description: string }>,
});

const UpstreamStateEnum = documentedEnum<UpstreamState>("AssistantUpstreamState", "Whether the backend's upstream service answers.", {
  OK: { description: "It answered its health check with the JSON its protocol defines." },
  UNAVAILABLE: { description: "It did not answer, answered an error, or answered something else (see upstreamDetail)." },
  NOT_CONFIGURED: { description: "The backend needs an upstream URL that is not set." },
  NOT_NEEDED: { description: "The built-in backend has no upstream." },
});

const AssistantToolRef = builder.simpleObject("AssistantTool", {
  description: "A tool the assistant may call: one of the API's own capabilities, run as the caller.",
  fields: (t) => ({
    name: t.string({ description: "The tool's name, e.g. search_offers." }),
    description: t.string({ description: "What it does, as the model is told." }),
  }),
});

const AssistantStatusRef = builder.objectRef<AssistantStatus>("AssistantStatus").implement({
  description: "Which backend answers, whether its upstream is reachable, and the tools it may call. The upstream is checked at most every 15 seconds.",
  fields: (t) => ({
    backend: t.field({ type: AssistantBackendEnum, description: "The configured backend.", resolve: (s) => s.backend }),
    model: t.exposeString("model", { nullable: true, description: "The model answers come from (the built-in backend: \"rule-based planner\"); null when the backend does not say." }),
    upstream: t.field({ type: UpstreamStateEnum, description: "Whether the upstream answers.", resolve: (s) => s.upstream }),
    upstreamDetail: t.exposeString("upstreamDetail", { nullable: true, description: "Why the upstream is not OK; null when it is (or is not needed)." }),
    latencyMs: t.exposeInt("latencyMs", { nullable: true, description: "How long the last health check took, in milliseconds." }),
    checkedAt: t.expose("checkedAt", { type: "DateTime", description: "When the upstream was last checked." }),
    tools: t.field({ type: [AssistantToolRef], description: "The tools the assistant may call.", resolve: (s) => s.tools }),
  }),
});

builder.queryField("assistantStatus", (t) => t.field({
  type: AssistantStatusRef,
  description: "The assistant's backend, the state of its upstream service and its tools.",
  resolve: (_root, _args, ctx) => ctx.assistant.status(ctx.actor),
}));
