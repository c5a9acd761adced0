// GPU model spec table, compiled from vendor datasheets. Every entry names the datasheet its figures
// come from; `sources.note` says when a figure is derived or taken from elsewhere.
//
// Conventions (all figures per GPU, not per board or per server):
// - vramGb: memory as the vendor markets it (decimal GB). memoryBandwidthGbps: peak GB/s.
// - fp16Tflops: DENSE FP16/BF16 tensor-core TFLOPS with FP32 accumulate, i.e. without 2:4 sparsity.
//   Datasheets that quote only sparse figures are halved. GeForce cards run FP32 accumulate at half
//   their FP16-accumulate rate, so their figure is half the marketed one (it is what BF16 training and
//   inference actually get). Without tensor/matrix cores: the best FP16 vector rate, which is the FP32
//   rate where FP16 math is not faster.
// - fp8Tflops: DENSE FP8 tensor TFLOPS (FP32 accumulate); INT8 tensor TOPS on tensor cores without FP8
//   (Turing, Ampere, CDNA 2); null without an FP8/INT8 tensor path (Volta and non-tensor GPUs).
// - "AI TOPS" on GeForce / RTX datasheets is sparse FP8 (Ada) or sparse FP4 (Blackwell).
// - fp32Tflops: non-tensor (vector) FP32.

export interface GpuSpec {
  name: string;
  vendor: "NVIDIA" | "AMD" | "INTEL" | "GOOGLE";
  architecture: string;
  vramGb: number;
  memoryBandwidthGbps: number;
  fp16Tflops: number;
  fp8Tflops: number | null;
  fp32Tflops: number;
  formFactor: string;
  sources: { datasheet: string; note?: string };
}

const HALVED = "dense = datasheet sparse figure ÷ 2";
const H100_DS = "NVIDIA H100 Tensor Core GPU datasheet";
const H200_DS = "NVIDIA H200 Tensor Core GPU datasheet";
const GH200_DS = "NVIDIA GH200 Grace Hopper Superchip datasheet";
const A100_DS = "NVIDIA A100 Tensor Core GPU datasheet";
const A800_DS = "NVIDIA A800 Tensor Core GPU datasheet";
const A800_NOTE = "export variant of A100: same compute, NVLink capped at 400 GB/s";
const V100_DS = "NVIDIA Tesla V100 GPU datasheet";
const RTX_A_NOTE = "datasheet 'Tensor performance' is sparse FP16: dense FP16 ÷ 2; INT8 = 2× dense FP16 (Ampere tensor-core ratio)";
const RTX_ADA_NOTE = "datasheet 'Tensor performance' is sparse FP8: dense FP8 ÷ 2, dense FP16 ÷ 4";
const GA10X_NOTE =
  "FP32 = CUDA cores × boost clock × 2; tensor rates from the GeForce ratios of the NVIDIA Ampere GA102 whitepaper (FP16 with FP32 accumulate = 2× FP32, INT8 = 8× FP32)";
const AD10X_NOTE =
  "AI TOPS is sparse FP8 with FP16 accumulate: FP8 with FP32 accumulate dense = ÷ 4, FP16 = ÷ 8; FP32 = CUDA cores × boost clock × 2";
const GB20X_NOTE =
  "AI TOPS is sparse FP4: FP8 with FP32 accumulate dense = ÷ 8, FP16 = ÷ 16; FP32 = CUDA cores × boost clock × 2";

export const GPU_SPECS: readonly GpuSpec[] = [
  // NVIDIA Blackwell / Hopper data centre
  { name: "B300", vendor: "NVIDIA", architecture: "Blackwell Ultra", vramGb: 288, memoryBandwidthGbps: 8000, fp16Tflops: 2250, fp8Tflops: 4500, fp32Tflops: 75, formFactor: "SXM",
    sources: { datasheet: "NVIDIA HGX B300 platform specifications (nvidia.com/hgx)", note: `8-GPU totals ÷ 8; ${HALVED}` } },
  { name: "B200", vendor: "NVIDIA", architecture: "Blackwell", vramGb: 180, memoryBandwidthGbps: 8000, fp16Tflops: 2250, fp8Tflops: 4500, fp32Tflops: 75, formFactor: "SXM",
    sources: { datasheet: "NVIDIA HGX B200 platform specifications (nvidia.com/hgx)", note: `8-GPU totals ÷ 8 (1.44 TB → 180 GB); ${HALVED}` } },
  { name: "H200-SXM-141GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 141, memoryBandwidthGbps: 4800, fp16Tflops: 989, fp8Tflops: 1979, fp32Tflops: 67, formFactor: "SXM",
    sources: { datasheet: H200_DS, note: HALVED } },
  { name: "H200-NVL-141GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 141, memoryBandwidthGbps: 4800, fp16Tflops: 835.5, fp8Tflops: 1670.5, fp32Tflops: 60, formFactor: "NVL",
    sources: { datasheet: H200_DS, note: HALVED } },
  { name: "GH200-96GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 96, memoryBandwidthGbps: 4000, fp16Tflops: 989, fp8Tflops: 1979, fp32Tflops: 67, formFactor: "Superchip",
    sources: { datasheet: GH200_DS, note: `GPU side only (HBM3 option); ${HALVED}` } },
  { name: "GH200-144GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 144, memoryBandwidthGbps: 4900, fp16Tflops: 989, fp8Tflops: 1979, fp32Tflops: 67, formFactor: "Superchip",
    sources: { datasheet: GH200_DS, note: `GPU side only (HBM3e option); ${HALVED}` } },
  { name: "H100-SXM-80GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 80, memoryBandwidthGbps: 3350, fp16Tflops: 989, fp8Tflops: 1979, fp32Tflops: 67, formFactor: "SXM",
    sources: { datasheet: H100_DS, note: `${HALVED} (1,979 → 989 as NVIDIA rounds it)` } },
  { name: "H100-PCIE-80GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 80, memoryBandwidthGbps: 2000, fp16Tflops: 756, fp8Tflops: 1513, fp32Tflops: 51, formFactor: "PCIe",
    sources: { datasheet: H100_DS, note: HALVED } },
  { name: "H100-NVL-94GB", vendor: "NVIDIA", architecture: "Hopper", vramGb: 94, memoryBandwidthGbps: 3900, fp16Tflops: 835.5, fp8Tflops: 1670.5, fp32Tflops: 60, formFactor: "NVL",
    sources: { datasheet: H100_DS, note: `H100 NVL column; ${HALVED}` } },

  // NVIDIA Ampere data centre
  { name: "A100-SXM-80GB", vendor: "NVIDIA", architecture: "Ampere", vramGb: 80, memoryBandwidthGbps: 2039, fp16Tflops: 312, fp8Tflops: 624, fp32Tflops: 19.5, formFactor: "SXM",
    sources: { datasheet: A100_DS } },
  { name: "A100-SXM-40GB", vendor: "NVIDIA", architecture: "Ampere", vramGb: 40, memoryBandwidthGbps: 1555, fp16Tflops: 312, fp8Tflops: 624, fp32Tflops: 19.5, formFactor: "SXM",
    sources: { datasheet: A100_DS } },
  { name: "A100-PCIE-80GB", vendor: "NVIDIA", architecture: "Ampere", vramGb: 80, memoryBandwidthGbps: 1935, fp16Tflops: 312, fp8Tflops: 624, fp32Tflops: 19.5, formFactor: "PCIe",
    sources: { datasheet: A100_DS } },
  { name: "A100-PCIE-40GB", vendor: "NVIDIA", architecture: "Ampere", vramGb: 40, memoryBandwidthGbps: 1555, fp16Tflops: 312, fp8Tflops: 624, fp32Tflops: 19.5, formFactor: "PCIe",
    sources: { datasheet: A100_DS } },
  { name: "A800-SXM-80GB", vendor: "NVIDIA", architecture: "Ampere", vramGb: 80, memoryBandwidthGbps: 2039, fp16Tflops: 312, fp8Tflops: 624, fp32Tflops: 19.5, formFactor: "SXM",
    sources: { datasheet: A800_DS, note: A800_NOTE } },
  { name: "A800-PCIE-80GB", vendor: "NVIDIA", architecture: "Ampere", vramGb: 80, memoryBandwidthGbps: 1935, fp16Tflops: 312, fp8Tflops: 624, fp32Tflops: 19.5, formFactor: "PCIe",
    sources: { datasheet: A800_DS, note: A800_NOTE } },
  { name: "A40", vendor: "NVIDIA", architecture: "Ampere", vramGb: 48, memoryBandwidthGbps: 696, fp16Tflops: 149.7, fp8Tflops: 299.3, fp32Tflops: 37.4, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA A40 GPU datasheet" } },
  { name: "A30", vendor: "NVIDIA", architecture: "Ampere", vramGb: 24, memoryBandwidthGbps: 933, fp16Tflops: 165, fp8Tflops: 330, fp32Tflops: 10.3, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA A30 Tensor Core GPU datasheet" } },
  { name: "A16", vendor: "NVIDIA", architecture: "Ampere", vramGb: 16, memoryBandwidthGbps: 200, fp16Tflops: 17.9, fp8Tflops: 35.9, fp32Tflops: 4.5, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA A16 GPU datasheet", note: "one of the four GPUs on an A16 board; the datasheet lists per-GPU figures as 4× …" } },
  { name: "A10", vendor: "NVIDIA", architecture: "Ampere", vramGb: 24, memoryBandwidthGbps: 600, fp16Tflops: 125, fp8Tflops: 250, fp32Tflops: 31.2, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA A10 Tensor Core GPU datasheet" } },
  { name: "A10G", vendor: "NVIDIA", architecture: "Ampere", vramGb: 24, memoryBandwidthGbps: 600, fp16Tflops: 70, fp8Tflops: 140, fp32Tflops: 31.5, formFactor: "PCIe",
    sources: { datasheet: "Amazon EC2 G5 instance specifications (A10G: 24 GB, 600 GB/s)",
      note: "AWS-only part without an NVIDIA datasheet; compute rates as reported by Baseten, 'NVIDIA A10 vs A10G for ML model inference'" } },

  // NVIDIA Ada Lovelace / Turing / older data centre
  { name: "L40S", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 48, memoryBandwidthGbps: 864, fp16Tflops: 362.05, fp8Tflops: 733, fp32Tflops: 91.6, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA L40S GPU datasheet" } },
  { name: "L40", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 48, memoryBandwidthGbps: 864, fp16Tflops: 181.05, fp8Tflops: 362, fp32Tflops: 90.5, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA L40 GPU datasheet" } },
  { name: "L4", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 24, memoryBandwidthGbps: 300, fp16Tflops: 121, fp8Tflops: 242.5, fp32Tflops: 30.3, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA L4 Tensor Core GPU datasheet", note: HALVED } },
  { name: "T4", vendor: "NVIDIA", architecture: "Turing", vramGb: 16, memoryBandwidthGbps: 320, fp16Tflops: 65, fp8Tflops: 130, fp32Tflops: 8.1, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA T4 Tensor Core GPU datasheet" } },
  { name: "V100-SXM-16GB", vendor: "NVIDIA", architecture: "Volta", vramGb: 16, memoryBandwidthGbps: 900, fp16Tflops: 125, fp8Tflops: null, fp32Tflops: 15.7, formFactor: "SXM",
    sources: { datasheet: V100_DS } },
  { name: "V100-SXM-32GB", vendor: "NVIDIA", architecture: "Volta", vramGb: 32, memoryBandwidthGbps: 900, fp16Tflops: 125, fp8Tflops: null, fp32Tflops: 15.7, formFactor: "SXM",
    sources: { datasheet: V100_DS } },
  { name: "V100-PCIE-16GB", vendor: "NVIDIA", architecture: "Volta", vramGb: 16, memoryBandwidthGbps: 900, fp16Tflops: 112, fp8Tflops: null, fp32Tflops: 14, formFactor: "PCIe",
    sources: { datasheet: V100_DS } },
  { name: "V100-PCIE-32GB", vendor: "NVIDIA", architecture: "Volta", vramGb: 32, memoryBandwidthGbps: 900, fp16Tflops: 112, fp8Tflops: null, fp32Tflops: 14, formFactor: "PCIe",
    sources: { datasheet: V100_DS } },
  { name: "P100", vendor: "NVIDIA", architecture: "Pascal", vramGb: 16, memoryBandwidthGbps: 732, fp16Tflops: 18.7, fp8Tflops: null, fp32Tflops: 9.3, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Tesla P100 GPU accelerator datasheet (PCIe 16 GB)", note: "no tensor cores: FP16 is the packed-FP16 vector rate" } },
  { name: "P4", vendor: "NVIDIA", architecture: "Pascal", vramGb: 8, memoryBandwidthGbps: 192, fp16Tflops: 5.5, fp8Tflops: null, fp32Tflops: 5.5, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Tesla P4 GPU accelerator datasheet", note: "no tensor cores or fast FP16: FP16 = FP32 rate; its 22 INT8 TOPS are DP4A, not a tensor path" } },
  { name: "K80", vendor: "NVIDIA", architecture: "Kepler", vramGb: 12, memoryBandwidthGbps: 240, fp16Tflops: 4.37, fp8Tflops: null, fp32Tflops: 4.37, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Tesla K80 datasheet", note: "one of the two GPUs on a board: 24 GB, 480 GB/s and 8.73 TFLOPS (boost) halved; no fast FP16" } },
  { name: "M60", vendor: "NVIDIA", architecture: "Maxwell", vramGb: 8, memoryBandwidthGbps: 160, fp16Tflops: 4.8, fp8Tflops: null, fp32Tflops: 4.8, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Tesla M60 datasheet",
      note: "one of the two GPUs on a board; FP32 derived = 2,048 CUDA cores × 1.18 GHz × 2; bandwidth = 256-bit GDDR5 at 5 Gbps; no fast FP16" } },

  // NVIDIA professional (Quadro / RTX)
  { name: "QUADRO-M4000", vendor: "NVIDIA", architecture: "Maxwell", vramGb: 8, memoryBandwidthGbps: 192, fp16Tflops: 2.6, fp8Tflops: null, fp32Tflops: 2.6, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Quadro M4000 datasheet", note: "no fast FP16: FP16 = FP32 rate" } },
  { name: "QUADRO-P4000", vendor: "NVIDIA", architecture: "Pascal", vramGb: 8, memoryBandwidthGbps: 243, fp16Tflops: 5.3, fp8Tflops: null, fp32Tflops: 5.3, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Quadro P4000 datasheet", note: "no fast FP16: FP16 = FP32 rate" } },
  { name: "QUADRO-RTX-6000", vendor: "NVIDIA", architecture: "Turing", vramGb: 24, memoryBandwidthGbps: 672, fp16Tflops: 130.5, fp8Tflops: 261, fp32Tflops: 16.3, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Quadro RTX 6000 datasheet" } },
  { name: "QUADRO-RTX-8000", vendor: "NVIDIA", architecture: "Turing", vramGb: 48, memoryBandwidthGbps: 672, fp16Tflops: 130.5, fp8Tflops: 261, fp32Tflops: 16.3, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Quadro RTX 8000 datasheet" } },
  { name: "RTX-A2000", vendor: "NVIDIA", architecture: "Ampere", vramGb: 12, memoryBandwidthGbps: 288, fp16Tflops: 31.95, fp8Tflops: 63.9, fp32Tflops: 8, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA RTX A2000 12GB datasheet", note: RTX_A_NOTE } },
  { name: "RTX-A4000", vendor: "NVIDIA", architecture: "Ampere", vramGb: 16, memoryBandwidthGbps: 448, fp16Tflops: 76.7, fp8Tflops: 153.4, fp32Tflops: 19.2, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA RTX A4000 datasheet", note: RTX_A_NOTE } },
  { name: "RTX-A4500", vendor: "NVIDIA", architecture: "Ampere", vramGb: 20, memoryBandwidthGbps: 640, fp16Tflops: 94.6, fp8Tflops: 189.2, fp32Tflops: 23.7, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA RTX A4500 datasheet", note: RTX_A_NOTE } },
  { name: "RTX-A5000", vendor: "NVIDIA", architecture: "Ampere", vramGb: 24, memoryBandwidthGbps: 768, fp16Tflops: 111.1, fp8Tflops: 222.2, fp32Tflops: 27.8, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA RTX A5000 datasheet", note: RTX_A_NOTE } },
  { name: "RTX-A6000", vendor: "NVIDIA", architecture: "Ampere", vramGb: 48, memoryBandwidthGbps: 768, fp16Tflops: 154.85, fp8Tflops: 309.7, fp32Tflops: 38.7, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA RTX A6000 datasheet", note: RTX_A_NOTE } },
  { name: "RTX-4000-ADA", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 20, memoryBandwidthGbps: 360, fp16Tflops: 81.9, fp8Tflops: 163.8, fp32Tflops: 26.7, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA RTX 4000 Ada Generation datasheet", note: RTX_ADA_NOTE } },
  { name: "RTX-6000-ADA", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 48, memoryBandwidthGbps: 960, fp16Tflops: 364.25, fp8Tflops: 728.5, fp32Tflops: 91.1, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA RTX 6000 Ada Generation datasheet", note: RTX_ADA_NOTE } },
  { name: "RTX-PRO-6000", vendor: "NVIDIA", architecture: "Blackwell", vramGb: 96, memoryBandwidthGbps: 1792, fp16Tflops: 500, fp8Tflops: 1000, fp32Tflops: 125, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA RTX PRO 6000 Blackwell Workstation Edition datasheet",
      note: "4,000 AI TOPS is sparse FP4: dense FP8 ÷ 4, FP16 ÷ 8; the Server Edition has the same GB202 configuration and 96 GB and is given the same figures" } },

  // NVIDIA GeForce
  { name: "GTX-1660-SUPER", vendor: "NVIDIA", architecture: "Turing", vramGb: 6, memoryBandwidthGbps: 336, fp16Tflops: 10.1, fp8Tflops: null, fp32Tflops: 5, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce GTX 1660 SUPER specifications", note: "TU116 has no tensor cores; FP32 = 1,408 cores × 1.785 GHz × 2, FP16 runs at 2× FP32" } },
  { name: "RTX-3060", vendor: "NVIDIA", architecture: "Ampere", vramGb: 12, memoryBandwidthGbps: 360, fp16Tflops: 25.5, fp8Tflops: 101.9, fp32Tflops: 12.7, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 3060 family specifications", note: GA10X_NOTE } },
  { name: "RTX-3060-TI", vendor: "NVIDIA", architecture: "Ampere", vramGb: 8, memoryBandwidthGbps: 448, fp16Tflops: 32.4, fp8Tflops: 129.6, fp32Tflops: 16.2, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 3060 family specifications", note: GA10X_NOTE } },
  { name: "RTX-3070", vendor: "NVIDIA", architecture: "Ampere", vramGb: 8, memoryBandwidthGbps: 448, fp16Tflops: 40.6, fp8Tflops: 162.5, fp32Tflops: 20.3, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 3070 family specifications", note: GA10X_NOTE } },
  { name: "RTX-3080", vendor: "NVIDIA", architecture: "Ampere", vramGb: 10, memoryBandwidthGbps: 760, fp16Tflops: 59.5, fp8Tflops: 238, fp32Tflops: 29.8, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Ampere GA102 GPU architecture whitepaper (GeForce RTX 3080)" } },
  { name: "RTX-3090", vendor: "NVIDIA", architecture: "Ampere", vramGb: 24, memoryBandwidthGbps: 936, fp16Tflops: 71, fp8Tflops: 284, fp32Tflops: 35.6, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Ampere GA102 GPU architecture whitepaper (GeForce RTX 3090)" } },
  { name: "RTX-4060", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 8, memoryBandwidthGbps: 272, fp16Tflops: 30.3, fp8Tflops: 60.5, fp32Tflops: 15.1, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 4060 family specifications (242 AI TOPS)", note: AD10X_NOTE } },
  { name: "RTX-4060-TI-16GB", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 16, memoryBandwidthGbps: 288, fp16Tflops: 44.1, fp8Tflops: 88.3, fp32Tflops: 22.1, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 4060 family specifications (353 AI TOPS)", note: AD10X_NOTE } },
  { name: "RTX-4060-TI-8GB", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 8, memoryBandwidthGbps: 288, fp16Tflops: 44.1, fp8Tflops: 88.3, fp32Tflops: 22.1, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 4060 family specifications (353 AI TOPS)", note: AD10X_NOTE } },
  { name: "RTX-4070", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 12, memoryBandwidthGbps: 504, fp16Tflops: 58.3, fp8Tflops: 116.5, fp32Tflops: 29.1, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 4070 family specifications (466 AI TOPS)", note: AD10X_NOTE } },
  { name: "RTX-4070-TI-SUPER", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 16, memoryBandwidthGbps: 672, fp16Tflops: 88.3, fp8Tflops: 176.5, fp32Tflops: 44.1, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 4070 family specifications (706 AI TOPS)", note: AD10X_NOTE } },
  { name: "RTX-4090", vendor: "NVIDIA", architecture: "Ada Lovelace", vramGb: 24, memoryBandwidthGbps: 1008, fp16Tflops: 165.2, fp8Tflops: 330.3, fp32Tflops: 82.6, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA Ada Lovelace GPU architecture whitepaper (GeForce RTX 4090)" } },
  { name: "RTX-5060", vendor: "NVIDIA", architecture: "Blackwell", vramGb: 8, memoryBandwidthGbps: 448, fp16Tflops: 38.4, fp8Tflops: 76.8, fp32Tflops: 19.2, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 5060 family specifications (614 AI TOPS)", note: GB20X_NOTE } },
  { name: "RTX-5090", vendor: "NVIDIA", architecture: "Blackwell", vramGb: 32, memoryBandwidthGbps: 1792, fp16Tflops: 209.5, fp8Tflops: 419, fp32Tflops: 104.8, formFactor: "PCIe",
    sources: { datasheet: "NVIDIA GeForce RTX 5090 specifications (3,352 AI TOPS)", note: GB20X_NOTE } },

  // AMD Instinct
  { name: "MI300X", vendor: "AMD", architecture: "CDNA 3", vramGb: 192, memoryBandwidthGbps: 5300, fp16Tflops: 1307.4, fp8Tflops: 2614.9, fp32Tflops: 163.4, formFactor: "OAM",
    sources: { datasheet: "AMD Instinct MI300X accelerator datasheet" } },
  { name: "MI250X", vendor: "AMD", architecture: "CDNA 2", vramGb: 128, memoryBandwidthGbps: 3277, fp16Tflops: 383, fp8Tflops: 383, fp32Tflops: 47.9, formFactor: "OAM",
    sources: { datasheet: "AMD Instinct MI250X accelerator datasheet" } },
  { name: "MI25", vendor: "AMD", architecture: "GCN 5 (Vega)", vramGb: 16, memoryBandwidthGbps: 484, fp16Tflops: 24.6, fp8Tflops: null, fp32Tflops: 12.3, formFactor: "PCIe",
    sources: { datasheet: "AMD Radeon Instinct MI25 datasheet", note: "no matrix cores: FP16 is the packed-FP16 vector rate" } },
];

const SPECS_BY_NAME = new Map(GPU_SPECS.map((spec) => [spec.name, spec]));

export function getGpuSpec(name: string): GpuSpec | undefined {
  return SPECS_BY_NAME.get(name.trim().toUpperCase());
}
