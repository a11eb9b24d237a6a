// Engine behaviour beyond op values: shape errors, grad mode, scopes and disposal, graph
// reuse, RNG reproducibility, safetensors, modules and initialisation, the GEMM fallback.

import * as T from "@lfdiff/ops/mod.ts";
import {
  Conv2d,
  LayerNorm2d,
  Linear,
  Module,
  parameter,
  parseSafetensors,
  serializeSafetensors,
} from "@lfdiff/model/mod.ts";
import { gemmProvider, selectGemm, sgemmTs } from "@lfdiff/ops/cpu/gemm.ts";
import { createCpuBackend } from "@lfdiff/ops/cpu/backend.ts";
import { Arena, CHUNK, type Memory } from "@lfdiff/ops/cpu/arena.ts";
import { openLibrary } from "@lfdiff/native/library.ts";
import { assert, assertClose, assertEquals, assertThrows, strictEqual } from "./assert.ts";

Deno.test("shape errors name the op and both shapes", () => {
  const cases: [() => unknown, RegExp][] = [
    [
      () => T.add(T.zeros([2, 3]), T.zeros([4, 3])),
      /add: shapes \[2,3\] and \[4,3\] do not broadcast/,
    ],
    [() => T.mul(T.zeros([2, 3]), T.zeros([2])), /mul: shapes \[2,3\] and \[2\]/],
    [() => T.matmul(T.zeros([2, 3]), T.zeros([4, 5])), /matmul: shapes \[2,3\] and \[4,5\]/],
    [
      () => T.conv2d(T.zeros([1, 3, 8, 8]), T.zeros([4, 2, 3, 3])),
      /conv2d: input \[1,3,8,8\], weight \[4,2,3,3\]/,
    ],
    [
      () => T.conv2d(T.zeros([1, 3, 8, 8]), T.zeros([4, 3, 3, 3]), null, {}, T.zeros([1, 4, 8, 8])),
      /conv2d: added \[1,4,8,8\] to an output of \[1,4,6,6\]/,
    ],
    [() => T.concat([T.zeros([2, 3]), T.zeros([3, 3])], 1), /concat: shapes \[2,3\] and \[3,3\]/],
    [() => T.l1Loss(T.zeros([2, 3]), T.zeros([3, 2])), /l1Loss: shapes \[2,3\] and \[3,2\]/],
    [() => T.reshape(T.zeros([2, 3]), [4, 2]), /reshape: cannot reshape \[2,3\] to \[4,2\]/],
    [
      () => T.layerNorm2d(T.zeros([1, 4, 2, 2]), T.zeros([3]), null),
      /layerNorm2d: parameter \[3\] for input \[1,4,2,2\]/,
    ],
    [
      () => T.pixelUnshuffle(T.zeros([1, 3, 6, 6]), 4),
      /pixelUnshuffle: size of \[1,3,6,6\] not divisible by 4/,
    ],
    [() => T.tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2,2\]/],
    [() => T.chunk(T.zeros([4]), 0, 0), /chunk: cannot split \[4\] into 0 pieces/],
    [() => new Linear(5, 2).forward(T.zeros([3, 4])), /Linear: input \[3,4\] for in_features 5/],
  ];
  for (const [fn, re] of cases) assertThrows(fn, re);
});

Deno.test("noGrad records no graph", () => {
  const x = T.tensor([1, 2], [2], { requiresGrad: true });
  const y = T.noGrad(() => T.mul(x, x));
  strictEqual(y.requiresGrad, false);
  strictEqual(y.node, null);
  strictEqual(T.isGradEnabled(), true);
});

Deno.test("scope frees what it made and keeps what it returns", () => {
  const x = T.tensor([1, 2, 3]);
  let inner: T.Tensor | undefined;
  const out = T.scope(() => {
    inner = T.exp(x);
    return { y: T.add(inner, 1) };
  });
  assert(inner!.disposed, "intermediate freed");
  assert(!out.y.disposed && !x.disposed, "result and outer tensor alive");
  assertThrows(() => inner!.toArray(), /used after dispose/);
  assertThrows(() => T.scope(() => Promise.resolve(1)), /synchronous/);
});

Deno.test("scope returns pixels without walking them", () => {
  // Looking for tensors element by element in 8M floats took about a second (80 ms per
  // 512×384 inference before it stopped); a typed array holds none.
  const pixels = new Float32Array(1 << 23);
  const t0 = performance.now();
  const out = T.scope(() => ({ pixels, t: T.tensor([1]) }));
  const ms = performance.now() - t0;
  assert(out.pixels === pixels && !out.t.disposed, "both returned");
  assert(ms < 50, `${ms.toFixed(0)} ms`);
});

Deno.test("nested scopes hand results outwards; kept tensors survive", () => {
  let kept: T.Tensor | undefined, mid: T.Tensor | undefined;
  T.scope(() => {
    mid = T.scope(() => {
      kept = T.ones([2]).keep();
      return T.zeros([2]);
    });
    assert(!mid.disposed);
  });
  assert(mid!.disposed, "returned from inner, freed by outer");
  assert(!kept!.disposed);
});

Deno.test("`using` disposes at block end; views keep shared storage alive", () => {
  let v: T.Tensor;
  {
    using t = T.tensor([1, 2, 3, 4], [2, 2]);
    v = T.reshape(t, [4]);
  }
  assertEquals([...v.toArray()], [1, 2, 3, 4]);
});

Deno.test("gradients accumulate across backward calls; graph reuse needs retainGraph", () => {
  const x = T.tensor([1, 2, 3], [3], { requiresGrad: true });
  const y = T.sum(T.mul(x, x));
  y.backward(undefined, { retainGraph: true });
  y.backward();
  assertEquals([...x.grad!.toArray()], [4, 8, 12]);
  assertThrows(() => y.backward(), /already used; pass retainGraph/);
  const a = T.tensor([1], [1], { requiresGrad: true }),
    b = T.tensor([2], [1], { requiresGrad: true });
  T.add(a, b).backward();
  assert(a.grad !== b.grad, "each leaf owns its gradient");
  assertThrows(() => T.sum(T.tensor([1, 2])).backward(), /does not require grad/);
  assertThrows(() => T.mul(x, 2).backward(), /gradient must be given/);
});

Deno.test("a leaf used twice gets the summed gradient", () => {
  const x = T.tensor([3], [1], { requiresGrad: true });
  T.mul(T.add(x, x), x).backward(); // 2x² → 4x
  assertEquals([...x.grad!.toArray()], [12]);
});

Deno.test("seeded RNG reproduces, restores its state, and has the right moments", () => {
  const a = new T.Rng(42), b = new T.Rng(42);
  assertEquals([...a.normal(5)], [...b.normal(5)]);
  const saved = a.state;
  const next = a.uniform(4);
  a.state = saved;
  assertEquals([...a.uniform(4)], [...next]);
  const n = new T.Rng(1).normal(200000);
  let m = 0, v = 0;
  for (const x of n) m += x;
  m /= n.length;
  for (const x of n) v += (x - m) ** 2;
  v /= n.length;
  assert(Math.abs(m) < 0.01 && Math.abs(v - 1) < 0.01, `mean ${m}, var ${v}`);
  const u = new T.Rng(2).uniform(100000);
  assert(u.every((x) => x >= 0 && x < 1));
  assert(new T.Rng(1).next() !== new T.Rng(2).next());
});

Deno.test("safetensors: F32 round trip, F16/BF16 read, corrupt files rejected", () => {
  const data = new Map([["a.weight", {
    shape: [2, 3],
    data: Float32Array.from([1, -2, 3.5, 0, 1e-3, 65504]),
  }]]);
  const bytes = serializeSafetensors(data, { note: "x" });
  const back = parseSafetensors(bytes, "t.safetensors");
  assertEquals([...back.tensors.get("a.weight")!.data], [...data.get("a.weight")!.data]);
  assertEquals(back.metadata, { note: "x" });
  // Hand-built F16 and BF16 entries: 1.0, -2.0, 0.5
  const header = JSON.stringify({
    h: { dtype: "F16", shape: [3], data_offsets: [0, 6] },
    b: { dtype: "BF16", shape: [3], data_offsets: [6, 12] },
  });
  const raw = new Uint8Array(8 + header.length + 12);
  const dv = new DataView(raw.buffer);
  dv.setBigUint64(0, BigInt(header.length), true);
  raw.set(new TextEncoder().encode(header), 8);
  [0x3c00, 0xc000, 0x3800, 0x3f80, 0xc000, 0x3f00].forEach((v, i) =>
    dv.setUint16(8 + header.length + 2 * i, v, true)
  );
  const half = parseSafetensors(raw, "h.safetensors");
  assertEquals([...half.tensors.get("h")!.data], [1, -2, 0.5]);
  assertEquals([...half.tensors.get("b")!.data], [1, -2, 0.5]);
  assertThrows(
    () => parseSafetensors(bytes.subarray(0, 20), "cut.safetensors"),
    /cut.safetensors: header length \d+ exceeds the file/,
  );
  assertThrows(
    () => parseSafetensors(bytes.subarray(0, bytes.length - 4), "short.safetensors"),
    /short.safetensors: tensor "a.weight" data offsets/,
  );
  const i64 = JSON.stringify({ n: { dtype: "I64", shape: [1], data_offsets: [0, 8] } });
  const i64Raw = new Uint8Array(8 + i64.length + 8);
  new DataView(i64Raw.buffer).setBigUint64(0, BigInt(i64.length), true);
  i64Raw.set(new TextEncoder().encode(i64), 8);
  assertThrows(
    () => parseSafetensors(i64Raw, "int.safetensors"),
    /int.safetensors: tensor "n" has dtype I64; only F32, F16, BF16, F64 are read/,
  );
  const bad = bytes.slice();
  bad[9] = 0x7b; // break the JSON
  bad[10] = 0x7b;
  assertThrows(
    () => parseSafetensors(bad, "bad.safetensors"),
    /bad.safetensors: header is not valid JSON/,
  );
});

class Block extends Module {
  conv = new Conv2d(4, 4, 3, { padding: 1 });
  norm = new LayerNorm2d(4, { bias: false });
}

class Net extends Module {
  stem = new Conv2d(3, 4, 3, { padding: 1 });
  blocks = [new Block(), new Block()];
  head = new Linear(4, 2);
  scale = parameter(T.ones([1]));
  notAParam = T.zeros([3]);
}

Deno.test("modules: dotted names, counts, state-dict checks", () => {
  const net = new Net();
  assertEquals(net.namedParameters().map(([n]) => n), [
    "stem.weight",
    "stem.bias",
    "blocks.0.conv.weight",
    "blocks.0.conv.bias",
    "blocks.0.norm.weight",
    "blocks.1.conv.weight",
    "blocks.1.conv.bias",
    "blocks.1.norm.weight",
    "head.weight",
    "head.bias",
    "scale",
  ]);
  strictEqual(net.numParameters(), 3 * 4 * 9 + 4 + 2 * (4 * 4 * 9 + 4 + 4) + 8 + 2 + 1);
  const sd = new Map(
    [...net.stateDict()].map(([k, t]) => [k, { shape: [...t.shape], data: t.toArray() }]),
  );
  const other = new Net();
  other.loadStateDict(sd);
  assertEquals([...other.blocks[1].conv.weight.toArray()], [
    ...net.blocks[1].conv.weight.toArray(),
  ]);
  sd.set("head.weight", { shape: [2, 5], data: new Float32Array(10) });
  assertThrows(() => other.loadStateDict(sd), /"head.weight" has shape \[2,5\], the model \[2,4\]/);
  sd.delete("head.weight");
  assertThrows(() => other.loadStateDict(sd), /lacks 1 parameter\(s\): head.weight/);
  sd.set("extra", { shape: [1], data: new Float32Array(1) });
  assertThrows(() => other.loadStateDict(sd, false), /has "extra", which this model does not/);
});

Deno.test("PyTorch default init: U(±1/√fan_in) for conv and linear, ones/zeros for norms", () => {
  T.manualSeed(3);
  const conv = new Conv2d(60, 60, 3);
  const bound = 1 / Math.sqrt(60 * 9);
  const w = conv.weight.toArray();
  assert(w.every((v) => Math.abs(v) <= bound));
  const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
  assertClose([std], [bound / Math.sqrt(3)], 0.02, "weight std");
  assert(conv.bias!.toArray().every((v) => Math.abs(v) <= bound));
  const lin = new Linear(10, 3, { bias: false });
  assert(lin.weight.toArray().every((v) => Math.abs(v) <= 1 / Math.sqrt(10)));
  strictEqual(lin.bias, null);
  const ln = new LayerNorm2d(5);
  assertEquals([...ln.weight.toArray()], [1, 1, 1, 1, 1]);
  assertEquals([...ln.bias!.toArray()], [0, 0, 0, 0, 0]);
});

Deno.test("TypeScript GEMM fallback agrees with the BLAS path in every transpose", () => {
  const rng = new T.Rng(9);
  const [m, n, k] = [7, 5, 9];
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const a = rng.normal(m * k), b = rng.normal(k * n);
      const c1 = rng.normal(m * n), c2 = c1.slice();
      const lda = ta ? m : k, ldb = tb ? k : n;
      gemmProvider().sgemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 0.25, c1, n);
      sgemmTs(ta, tb, m, n, k, 0.5, a, lda, b, ldb, 0.25, c2, n);
      assertClose(c2, c1, 1e-5, `trans ${ta} ${tb}`);
    }
  }
});

Deno.test("without OpenBLAS the engine warns once, naming where it looked, and falls back", () => {
  const warnings: string[] = [];
  const p = selectGemm(
    () =>
      openLibrary(
        "OpenBLAS",
        ["libnot-openblas.so.0"],
        ["/nowhere"],
        {},
        "install libopenblas0-pthread",
      ) as never,
    (m) => warnings.push(m),
  );
  strictEqual(p.describe, "typescript");
  strictEqual(p.sgemm, sgemmTs);
  strictEqual(warnings.length, 1);
  assert(
    /OpenBLAS not found \(tried libnot-openblas.so.0, \/nowhere\/libnot-openblas.so.0\); install libopenblas0-pthread/
      .test(warnings[0]),
    warnings[0],
  );
});

Deno.test("a registered backend is a new device: ops run through it, tensors say where they live", () => {
  const calls = new Map<string, number>();
  T.registerBackend("counting", () => {
    const cpu = createCpuBackend();
    // Every primitive counts its calls, then runs on the CPU.
    return Object.fromEntries(
      Object.entries(cpu).map(([k, v]) => [
        k,
        typeof v === "function"
          ? (...a: unknown[]) => (calls.set(k, (calls.get(k) ?? 0) + 1), v(...a))
          : k === "name"
          ? "counting"
          : v,
      ]),
    ) as unknown as T.Backend;
  });
  const x = T.randn([1, 2, 5, 5], new T.Rng(1), { device: "counting", requiresGrad: true });
  const w = T.randn([3, 2, 3, 3], new T.Rng(2), { device: "counting" });
  const y = T.relu(T.conv2d(x, w, null, { padding: 1 }));
  strictEqual(y.device, "counting");
  T.sum(y).backward();
  assert((calls.get("conv2d") ?? 0) === 1 && (calls.get("conv2dBackwardData") ?? 0) === 1);
  assert((calls.get("unary") ?? 0) >= 1 && (calls.get("unaryBackward") ?? 0) >= 1);
  const ref = T.relu(
    T.conv2d(T.tensor(x.toArray(), x.shape), T.tensor(w.toArray(), w.shape), null, { padding: 1 }),
  );
  assertEquals([...y.toArray()], [...ref.toArray()]);
  assertThrows(() => T.add(y, ref), /add: tensors on counting and cpu/);
});

Deno.test("safetensors: F16 storage rounds to the nearest half and reads back as float32", () => {
  const data = new Float32Array([1, -2.5, 0.1, 65504, 1e-8, 3.14159]);
  const file = parseSafetensors(
    serializeSafetensors(new Map([["w", { shape: [2, 3], data }]]), { note: "half" }, "F16"),
    "h.safetensors",
  );
  const back = file.tensors.get("w")!;
  assertEquals(back.shape, [2, 3]);
  assertEquals(file.metadata.note, "half");
  // Half keeps 11 significant bits: relative error ≤ 2^-11, and 1e-8 flushes to 0.
  assertEquals([back.data[0], back.data[1], back.data[3], back.data[4]], [1, -2.5, 65504, 0]);
  for (const i of [2, 5]) {
    assert(Math.abs(back.data[i] / data[i] - 1) < 2 ** -11, `${back.data[i]}`);
  }
});

/** Plain-array regions of `chunks` residency chunks whose release zero-fills, as madvise. */
function fakeMemory(chunks: number) {
  const released: [Float32Array, number, number][] = [];
  const memory: Memory = {
    regionFloats: chunks * CHUNK,
    reserve: (n) => new Float32Array(n),
    release: (r, start, end) => {
      r.fill(0, start, end);
      released.push([r, start, end]);
    },
  };
  return { memory, released };
}

Deno.test("CPU arena: blocks never overlap, freed space is reused by any size and merged", () => {
  const arena = new Arena(fakeMemory(64).memory, 0), rng = new T.Rng(3);
  const live: Float32Array[] = [];
  for (let step = 0; step < 4000; step++) {
    if (live.length && rng.float() < 0.5) {
      const [b] = live.splice(rng.int(live.length), 1);
      arena.free(b);
    } else {
      const b = arena.alloc(1024 + rng.int(1 << 20));
      b.fill(step + 1); // a later overlap, or a page given back under it, would show
      live.push(b);
    }
    if (step % 500 === 0) {
      for (const b of live) assert(b.every((v) => v === b[0] && v > 0), "a block was overwritten");
    }
  }
  const before = arena.reserved;
  for (const b of live.splice(0)) arena.free(b);
  // Everything merged back: a block the size of a whole region needs no new region.
  arena.alloc(64 * CHUNK);
  strictEqual(arena.reserved, before);
  const b = arena.alloc(5000);
  arena.free(b);
  assertThrows(() => arena.free(b), /arena: freeing a block it does not hold/);
  arena.free(new Float32Array(10)); // small and foreign arrays are the GC's
});

Deno.test("CPU arena: resident memory stays near the live peak, and repeated steps reuse it", () => {
  // Shapes grow from module to module (an inference) and long-lived blocks pin the address
  // space apart: without giving pages back, resident memory follows the highest address.
  const slack = 4 * CHUNK;
  const run = (release: boolean) => {
    const { memory, released } = fakeMemory(4096);
    const arena = new Arena(memory, release ? slack : Infinity);
    const rng = new T.Rng(5), pinned: Float32Array[] = [];
    let peak = 0, maxBlocks = 0;
    for (let module = 0; module < 300; module++) {
      const n = Math.floor((0.5 + module / 30) * CHUNK);
      const blocks = Array.from({ length: 6 }, () => arena.alloc(n));
      maxBlocks = Math.max(maxBlocks, pinned.length + blocks.length);
      peak = Math.max(peak, arena.resident);
      pinned.push(blocks.pop()!);
      for (const b of blocks) arena.free(b);
      if (pinned.length > 8) arena.free(pinned.splice(rng.int(pinned.length), 1)[0]);
    }
    return { peak, maxBlocks, stats: arena.stats, released };
  };
  const kept = run(false), given = run(true);
  const s = given.stats;
  assert(s.touched > 3 * given.peak, `touched ${s.touched} floats for a peak of ${given.peak}`);
  assert(given.released.length > 0);
  // Within the slack, but for chunks a live block shares with free space (two per block).
  const bound = s.livePeak + slack + 2 * given.maxBlocks * CHUNK;
  assert(given.peak <= bound, `resident ${given.peak} > ${bound}`);
  assert(given.peak < 0.8 * kept.peak, `resident ${given.peak}, ${kept.peak} without giving back`);
  for (const [r, start, end] of given.released) {
    strictEqual(start % CHUNK, 0);
    strictEqual(end - start, CHUNK);
    assert(r.length >= end);
  }

  // The same allocations every step (training): after the first step nothing new is touched.
  const steps = new Arena(fakeMemory(1024).memory, slack);
  const rng = new T.Rng(6);
  const sizes = Array.from({ length: 40 }, () => Math.floor((0.2 + 4 * rng.float()) * CHUNK));
  const touched: number[] = [];
  for (let step = 0; step < 4; step++) {
    const held = sizes.map((n) => steps.alloc(n));
    for (const b of held.reverse()) steps.free(b);
    touched.push(steps.stats.touched);
  }
  assertEquals(touched.slice(1), [touched[0], touched[0], touched[0]]);
});
