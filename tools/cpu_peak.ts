// The CPU's peak arithmetic rate, for `bench --profile` to set achieved GFLOP/s against:
// cores × FMA units × vector lanes × 2 (a fused multiply-add is two operations) × clock, in
// fp32; in bf16, AMX's tile unit where the CPU has it (1,024 operations a cycle a core:
// TDPBF16PS multiplies 16×32 by 32×16 bf16 tiles, 16,384 operations, every 16 cycles; oneDNN's
// bf16 convolutions and GEMMs run on it), else twice fp32 where AVX512-BF16 doubles it
// (VDPBF16PS: two bf16 products per fp32 lane). The clock is the one /proc/cpuinfo reports
// (on a VM often the nominal one; a core that boosts beyond it can pass this "peak"), else
// lscpu's maximum. Two FMA units per core are assumed (server cores since Skylake-SP and Zen
// 5; Zen 4 runs AVX-512 at half that).

import { readProc } from "./proc.ts";

const AMX_OPS_PER_CYCLE = 1024;

/** The peak and what it was computed from, in words and numbers. */
export interface CpuPeak {
  cores: number;
  ghz: number;
  clockFrom: string;
  lanes: number;
  fmaUnits: number;
  fp32: number;
  bf16: number | null;
  formula: string;
  /** How the bf16 peak follows, in words (null without bf16). */
  bf16From: string | null;
}

async function lscpuMaxMHz(): Promise<number | null> {
  try {
    const out = await new Deno.Command("lscpu").output();
    const m = /CPU max MHz:\s*([\d.]+)/.exec(new TextDecoder().decode(out.stdout));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The peak of `cores` cores of this machine, or null where /proc/cpuinfo is unreadable. */
export async function cpuPeak(cores: number): Promise<CpuPeak | null> {
  const info = await readProc("/proc/cpuinfo");
  return info === null ? null : peakOf(info, cores, lscpuMaxMHz);
}

/** The peak of `cores` cores described by `info` (/proc/cpuinfo's text). */
export async function peakOf(
  info: string,
  cores: number,
  maxMHz: () => Promise<number | null>,
): Promise<CpuPeak | null> {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? "").trim().split(/\s+/));
  const mhz = [...info.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
  let clockFrom = '/proc/cpuinfo "cpu MHz"',
    clock = mhz.length ? mhz.reduce((a, b) => a + b, 0) / mhz.length : null;
  if (clock === null) {
    clock = await maxMHz();
    clockFrom = 'lscpu "CPU max MHz"';
  }
  if (clock === null) return null;
  const lanes = flags.has("avx512f") ? 16 : flags.has("fma") ? 8 : 4, fmaUnits = 2;
  const ghz = clock / 1000, amx = flags.has("amx_bf16");
  const fp32 = cores * fmaUnits * lanes * 2 * ghz;
  return {
    cores,
    ghz,
    clockFrom,
    lanes,
    fmaUnits,
    fp32,
    bf16: amx ? cores * AMX_OPS_PER_CYCLE * ghz : flags.has("avx512_bf16") ? 2 * fp32 : null,
    bf16From: amx
      ? `AMX-BF16: ${cores} cores × ${AMX_OPS_PER_CYCLE} per cycle × ${ghz.toFixed(2)} GHz`
      : flags.has("avx512_bf16")
      ? "AVX512-BF16: twice fp32"
      : null,
    formula: `${cores} cores × ${fmaUnits} FMA units × ${lanes} fp32 lanes × 2 × ${
      ghz.toFixed(2)
    } GHz (${clockFrom})`,
  };
}
