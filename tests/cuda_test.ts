// The CUDA backend: a device smoke test (memory round trip, an NVRTC-compiled kernel, one
// cuDNN convolution against the CPU backend) that runs where a GPU is, and is shown as
// skipped elsewhere; and, wherever nvcc is installed, a compile of the kernel source so
// its syntax is checked even on machines without a GPU.

import * as T from "@lfdiff/ops/mod.ts";
import { KERNELS } from "@lfdiff/ops/cuda/kernels.ts";
import { assert, assertClose, assertEquals } from "./assert.ts";
import { cudaUnavailable } from "./golden.ts";

Deno.test({
  name: "cuda: memory, an NVRTC kernel and a cuDNN conv agree with the CPU",
  ignore: cudaUnavailable() !== null,
}, () => {
  const rng = new T.Rng(1);
  const data = rng.normal(1000);
  const g = T.tensor(data, [10, 100], { device: "cuda" });
  assertEquals(g.toArray(), data);
  assertClose(T.exp(g).toArray(), T.exp(T.tensor(data, [10, 100])).toArray(), 1e-6, "exp on cuda");
  const x = rng.normal(2 * 6 * 9 * 11), w = rng.normal(4 * 3 * 3 * 3), b = rng.normal(4);
  const run = (device: string) =>
    T.conv2d(
      T.tensor(x, [2, 6, 9, 11], { device }),
      T.tensor(w, [4, 3, 3, 3], { device }),
      T.tensor(b, [4], { device }),
      { padding: 1, groups: 2 },
    ).toArray();
  assertClose(run("cuda"), run("cpu"), 1e-5, "grouped conv on cuda vs cpu");
});

async function nvcc(): Promise<string | null> {
  for (const p of ["/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc", "/usr/bin/nvcc"]) {
    try {
      await Deno.stat(p);
      return p;
    } catch { /* next */ }
  }
  return null;
}

const compiler = await nvcc();
Deno.test({
  name: "cuda kernel source compiles (nvcc, sm_80 and sm_90)",
  ignore: compiler === null,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/kernels.cu`, KERNELS);
    for (const arch of ["sm_80", "sm_90"]) {
      const out = await new Deno.Command(compiler!, {
        args: ["-cubin", `-arch=${arch}`, `${dir}/kernels.cu`, "-o", `${dir}/k.cubin`],
      }).output();
      assert(out.success, new TextDecoder().decode(out.stderr));
      assert((await Deno.stat(`${dir}/k.cubin`)).size > 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
