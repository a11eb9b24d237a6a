// RAW through LibRaw, on DNGs these tests write (tests/dng_writer.ts): a synthetic camera with
// a real camera's colour matrix records a scene of known linear sRGB patches, and LibRaw's
// development must give the patches back: black level removed, the as-shot white balance,
// the colour matrix, linearity across exposures, clipping as (1, 1, 1), the exposure time
// from the metadata. Also: a bracket of DNGs through loadBracket, the bindings' offsets
// against the installed header, and JPEG/TIFF decoding without LibRaw. Tests that need
// LibRaw skip, saying why, when it is not installed (Debian: apt-get install libraw20).

import { decodeImage } from "@lfdiff/io/codecs.ts";
import { loadBracket, loadBracketFolder } from "@lfdiff/io/bracket.ts";
import { type Image, ImageError, newImage } from "@lfdiff/io/image.ts";
import { decodeRaw, isRaw, type RawFrame } from "@lfdiff/io/raw.ts";
import { encodeTiff } from "@lfdiff/io/tiff.ts";
import { IMAGE_BITMAP, IO_ERROR, type LibRaw, OFFSETS, openLibRaw } from "@lfdiff/native/libraw.ts";
import { assert, assertEquals, assertRejectsOneLine, strictEqual } from "./assert.ts";
import { cCompiler, runC } from "./c_probe.ts";
import { type DngFrame, writeDng } from "./dng_writer.ts";

let lib: LibRaw | null = null;
try {
  lib = openLibRaw();
} catch (e) {
  console.error(`raw_test: LibRaw tests skipped, ${(e as Error).message}`);
}
const noLib = lib === null;

// --- the synthetic camera -------------------------------------------------------------------

/** Linear sRGB (D65) to XYZ. */
const XYZ_RGB = [
  [0.412453, 0.35758, 0.180423],
  [0.212671, 0.71516, 0.072169],
  [0.019334, 0.119193, 0.950227],
];
/** Adobe's D65 ColorMatrix (XYZ to camera) of the Canon EOS 5D Mark II. */
const COLOR_MATRIX = [0.4716, 0.0603, -0.083, -0.7798, 1.5474, 0.248, -0.1496, 0.1937, 0.6651];
/** A warm light, unlike the matrix's daylight: the daylight multipliers would tint grey. */
const AS_SHOT: [number, number, number] = [0.5, 1, 0.55];
const BLACK = 512, WHITE = 15000, RANGE = WHITE - BLACK;

/** Camera RGB of linear sRGB under daylight: the colour matrix after sRGB to XYZ. */
const CAMERA = [0, 1, 2].map((i) =>
  [0, 1, 2].map((j) => [0, 1, 2].reduce((a, k) => a + COLOR_MATRIX[3 * i + k] * XYZ_RGB[k][j], 0))
);
const rowSums = CAMERA.map((r) => r[0] + r[1] + r[2]);
/** The camera's values of a neutral in daylight (D65, the matrix's illuminant). */
const DAYLIGHT = rowSums.map((v) => v / Math.max(...rowSums)) as [number, number, number];
/** White-balanced camera values of a radiance (sRGB white reads 1, 1, 1; clips at 1). */
const toCamera = (s: number[]) =>
  CAMERA.map((r, i) => (r[0] * s[0] + r[1] * s[1] + r[2] * s[2]) / rowSums[i]);

/** Patches of linear sRGB radiance, 32x32 each, 4 across and 3 down. */
const PATCHES: Record<string, number[]> = {
  black: [0, 0, 0],
  grey05: [0.05, 0.05, 0.05],
  grey18: [0.18, 0.18, 0.18],
  grey40: [0.4, 0.4, 0.4],
  red: [0.35, 0.12, 0.06],
  green: [0.1, 0.3, 0.08],
  blue: [0.06, 0.1, 0.35],
  skin: [0.4, 0.25, 0.18],
  grey85: [0.85, 0.85, 0.85],
  /** Only its red camera channel clips at exposure 1. */
  redHot: [2.2, 0.6, 0.35],
  /** Clips everywhere at exposure 1; the brightest thing, at 0.9, at exposure 1/4. */
  white: [3.6, 3.6, 3.6],
  orange: [0.6, 0.5, 0.3],
};
const NAMES = Object.keys(PATCHES);
const W = 128, H = 112, STRIP = 96; // the bottom 16 rows: a grey ramp from 0 to 0.9
const ramp = (x: number) => 0.9 * x / (W - 1);

function radiance(x: number, y: number): number[] {
  if (y >= STRIP) return [ramp(x), ramp(x), ramp(x)];
  return PATCHES[NAMES[4 * Math.floor(y / 32) + Math.floor(x / 32)]];
}

/**
 * What the camera records at exposure k (1 at 1/100 s) under a light whose neutral is `light`:
 * white-balanced values k·toCamera(s), divided by that light's gains (max(light) / light_c),
 * over the black level, clipped at the white level. LibRaw's development must undo exactly
 * this. The file says the light was `light` unless `o` says otherwise.
 */
function frame(k: number, o: Partial<DngFrame> = {}, light = AS_SHOT): DngFrame {
  const cfa = new Uint16Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = [0, 1, 1, 2][(y & 1) * 2 + (x & 1)];
      const v = k * toCamera(radiance(x, y))[c] * light[c] / Math.max(...light);
      cfa[y * W + x] = Math.min(WHITE, Math.round(BLACK + RANGE * v));
    }
  }
  return {
    width: W,
    height: H,
    cfa,
    pattern: [0, 1, 1, 2],
    black: BLACK,
    white: WHITE,
    colorMatrix: COLOR_MATRIX,
    asShotNeutral: light,
    exposureTime: k / 100,
    fNumber: 8,
    iso: 200,
    make: "lfdiff",
    model: "Synthetic",
    ...o,
  };
}

const decoded = new Map<number, RawFrame>();
function developed(k: number): RawFrame {
  if (!decoded.has(k)) decoded.set(k, decodeRaw(writeDng(frame(k)), `k${k}.dng`));
  return decoded.get(k)!;
}

/** The pixels of a patch's interior (6 px in from its edges: demosaic needs neighbours). */
function patch(img: Image, name: string): number[][] {
  const i = NAMES.indexOf(name), x0 = 32 * (i % 4), y0 = 32 * Math.floor(i / 4);
  const out: number[][] = [];
  for (let y = y0 + 6; y < y0 + 26; y++) {
    for (let x = x0 + 6; x < x0 + 26; x++) {
      const p = 3 * (y * img.width + x);
      out.push([img.data[p], img.data[p + 1], img.data[p + 2]]);
    }
  }
  return out;
}

/** Every pixel of the patch within `tol` of `want`, per channel. */
function assertPatch(img: Image, name: string, want: number[], tol: number) {
  for (const px of patch(img, name)) {
    const err = Math.max(...px.map((v, c) => Math.abs(v - want[c])));
    assert(err <= tol, `${name}: [${px.map((v) => v.toFixed(4))}] vs [${want}] (±${tol})`);
  }
}

// Rounding to raw codes (1/14488 of the range) and to LibRaw's 16-bit output, through the
// as-shot gains (up to 2) and the matrix: at most 1.6e-4 in these patches.
const TOL = 5e-4;

// --- development --------------------------------------------------------------------------

Deno.test({
  name: "RAW: black level removed, the patches' linear sRGB values come back",
  ignore: noLib,
  fn() {
    const img = developed(1).image;
    assertEquals([img.width, img.height, img.channels], [W, H, 3]);
    assertPatch(img, "black", [0, 0, 0], 1e-4);
    for (const name of ["grey05", "grey18", "grey40", "grey85", "orange"]) {
      assertPatch(img, name, PATCHES[name], TOL);
    }
  },
});

Deno.test({
  name: "RAW: white balance is the camera's as-shot one: greys come out neutral",
  ignore: noLib,
  fn() {
    const r = developed(1);
    strictEqual(r.whiteBalance, "as-shot");
    for (const name of ["grey05", "grey18", "grey40", "grey85"]) {
      for (const [red, green, blue] of patch(r.image, name)) {
        assert(Math.abs(red - green) < 1e-3 && Math.abs(blue - green) < 1e-3, name);
      }
    }
    // The same file saying the light was daylight: the grey now reads tinted, so the test
    // above sees which multipliers were used.
    const tinted = decodeRaw(writeDng(frame(1, { asShotNeutral: DAYLIGHT })), "tinted.dng");
    const [red, green, blue] = patch(tinted.image, "grey18")[0];
    assert(Math.abs(red - green) > 0.02 || Math.abs(blue - green) > 0.02);
  },
});

Deno.test({
  name: "RAW: a file without as-shot white balance is balanced for daylight",
  ignore: noLib,
  fn() {
    const r = decodeRaw(writeDng(frame(1, { asShotNeutral: undefined }, DAYLIGHT)), "day.dng");
    strictEqual(r.whiteBalance, "daylight");
    for (const name of ["grey18", "red", "blue", "skin"]) {
      assertPatch(r.image, name, PATCHES[name], TOL);
    }
  },
});

Deno.test({
  name: "RAW: the colour matrix gives saturated patches back in sRGB primaries",
  ignore: noLib,
  fn() {
    const img = developed(1).image;
    for (const name of ["red", "green", "blue", "skin"]) assertPatch(img, name, PATCHES[name], TOL);
  },
});

Deno.test({
  name: "RAW: linear: four times the exposure, four times the values; the ramp is a ramp",
  ignore: noLib,
  fn() {
    const short = developed(0.25).image, long = developed(1).image;
    for (const name of ["grey18", "grey40", "red", "green", "blue", "skin", "orange"]) {
      const a = patch(short, name), b = patch(long, name);
      for (let i = 0; i < a.length; i++) {
        for (let c = 0; c < 3; c++) {
          assert(Math.abs(4 * a[i][c] - b[i][c]) < 4 * TOL, `${name} ${4 * a[i][c]} ${b[i][c]}`);
        }
      }
    }
    for (let x = 8; x < W - 8; x++) {
      const p = 3 * ((STRIP + 8) * W + x);
      for (let c = 0; c < 3; c++) {
        assert(Math.abs(long.data[p + c] - ramp(x)) < TOL, `ramp at ${x}: ${long.data[p + c]}`);
      }
    }
  },
});

Deno.test({
  name: "RAW: a pixel with any clipped channel is (1, 1, 1); 1.0 is the sensor's saturation",
  ignore: noLib,
  fn() {
    const img = developed(1).image;
    // The premise: redHot clips in one camera channel only, white in all.
    assertEquals(toCamera(PATCHES.redHot).map((v) => v >= 1), [true, false, false]);
    assertPatch(img, "white", [1, 1, 1], 0);
    assertPatch(img, "redHot", [1, 1, 1], 0);
    assertPatch(img, "grey85", PATCHES.grey85, TOL);
    // At 1/4 the exposure nothing clips and white, at 0.9, is the brightest patch: LibRaw's
    // default would take it as the white level (adjust_maximum_thr) and read it as 1.0.
    const short = developed(0.25).image;
    assertPatch(short, "white", [0.9, 0.9, 0.9], TOL);
    assertPatch(short, "redHot", PATCHES.redHot.map((v) => v / 4), TOL);
  },
});

Deno.test({
  name: "RAW: exposure time, ISO, aperture, make and model come from the metadata",
  ignore: noLib,
  fn() {
    const r = decodeRaw(
      writeDng(frame(1, { exposureTime: 1 / 320, iso: 1600, fNumber: 5.6 })),
      "m",
    );
    assert(Math.abs(r.exposureTime! * 320 - 1) < 1e-6, `${r.exposureTime}`);
    assertEquals([r.iso, r.aperture, r.make, r.model], [
      1600,
      Math.fround(5.6),
      "lfdiff",
      "Synthetic",
    ]);
  },
});

Deno.test({
  name: "RAW: the file's orientation is applied, as JPEG's EXIF orientation is",
  ignore: noLib,
  fn() {
    // Orientation 6: the stored rows are the displayed image's columns, right to left.
    const img = decodeRaw(writeDng(frame(1, { orientation: 6 })), "rotated.dng").image;
    const want = developed(1).image;
    assertEquals([img.width, img.height], [H, W]);
    for (const [x, y] of [[40, 10], [100, 50], [16, 80]]) {
      const p = 3 * (x * H + (H - 1 - y)), q = 3 * (y * W + x);
      assertEquals(
        [...img.data.subarray(p, p + 3)],
        [...want.data.subarray(q, q + 3)],
        `${x},${y}`,
      );
    }
  },
});

// --- files: detection, codecs, brackets ---------------------------------------------------

const tiff = () => {
  const img = newImage(W, H, 3, 16);
  img.data.fill(0.5);
  return encodeTiff(img);
};

Deno.test("RAW detection: DNGs by their DNGVersion tag, other RAWs by signature or name", () => {
  const dng = writeDng(frame(1));
  assert(isRaw(dng, "frame.tif"));
  assert(!isRaw(tiff(), "frame.tif"));
  assert(isRaw(tiff(), "frame.NEF"));
  assert(isRaw(new TextEncoder().encode("FUJIFILMCCD-RAW 0201"), "x"));
  assert(!isRaw(new Uint8Array([0xff, 0xd8, 0xff]), "photo.dng"));
});

Deno.test({
  name: "RAW files decode through decodeImage; broken ones are refused in one line",
  ignore: noLib,
  async fn() {
    const dng = writeDng(frame(1));
    const img = await decodeImage(dng, "a.dng");
    assertEquals(img.data, developed(1).image.data);
    await assertRejectsOneLine(
      decodeImage(dng.subarray(0, dng.length - 2 * W * 40), "cut.dng"),
      ImageError,
      /^cut\.dng: LibRaw cannot unpack it: its data ends early \(truncated\?\)$/,
    );
    await assertRejectsOneLine(
      decodeImage(tiff(), "plain.nef"),
      ImageError,
      /^plain\.nef: LibRaw cannot read it: /,
    );
    // A header claiming far more photosites than its bytes can hold.
    const big = writeDng(frame(1)), dv = new DataView(big.buffer);
    for (let i = 0, n = dv.getUint16(8, true); i < n; i++) {
      const e = 10 + 12 * i, tag = dv.getUint16(e, true);
      if (tag === 256 || tag === 257) dv.setUint32(e + 8, 10000, true);
    }
    await assertRejectsOneLine(decodeImage(big, "big.dng"), ImageError, /^big\.dng: header claims/);
  },
});

Deno.test({
  name: "RAW: damaged DNGs decode or are refused in one line",
  ignore: noLib,
  async fn() {
    const dng = writeDng(frame(1));
    let seed = 7;
    const rnd = (n: number) =>
      Math.floor(((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * n);
    for (let i = 0; i < 150; i++) {
      const b = dng.slice(0, i % 3 === 0 ? rnd(dng.length) : dng.length);
      // The header and its values (the strip starts past 1,000 bytes).
      for (let k = 1 + rnd(6); k > 0; k--) b[rnd(Math.min(b.length, 1000))] = rnd(256);
      await decodeImage(b, "damaged.dng").catch((e) => {
        assert(e instanceof ImageError && !/[\n\r]/.test(e.message), `${i}: ${e}`);
      });
    }
  },
});

Deno.test({
  name: "RAW bracket: EVs from the RAWs' exposure times, frames marked linear",
  ignore: noLib,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const ks = [0.25, 1, 4], files = ks.map((_, i) => `${dir}/f${i}.dng`);
      await Promise.all(ks.map((k, i) => Deno.writeFile(files[i], writeDng(frame(k)))));
      const b = await loadBracket(files);
      strictEqual(b.encoding, "linear");
      strictEqual(b.evSource, "exif");
      b.evs.forEach((ev, i) => assert(Math.abs(ev - 2 * i) < 1e-5, `${b.evs}`));
      assertEquals(b.ldrs[0].data, developed(0.25).image.data);
      // A RAW+JPEG camera's folder: the RAWs are the bracket.
      await Deno.writeFile(`${dir}/f0.tif`, tiff());
      strictEqual((await loadBracketFolder(dir)).files.length, 3);
      await assertRejectsOneLine(
        loadBracket([files[0], `${dir}/f0.tif`]),
        ImageError,
        /^bracket: mixes RAW and other frames \(.*f0\.dng is RAW, .*f0\.tif is not\)$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("without LibRaw: RAW files are refused in one line, JPEG and TIFF still decode", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/a.dng`, writeDng(frame(1)));
    await Deno.writeFile(`${dir}/a.tif`, tiff());
    const jpeg = new URL("fixtures/images/q90_444.jpg", import.meta.url).pathname;
    const codecs = new URL("../io/codecs.ts", import.meta.url).href;
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { readImage } from ${JSON.stringify(codecs)};
for (const f of ${JSON.stringify([`${dir}/a.tif`, jpeg, `${dir}/a.dng`])}) {
  try {
    const img = await readImage(f);
    console.log("ok", img.width, img.height);
  } catch (e) {
    console.log("error", e.message);
  }
}`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", "--allow-ffi", script],
      env: { LFDIFF_LIBRAW_LIB_DIR: `${dir}/nowhere` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    strictEqual(lines.length, 3, new TextDecoder().decode(out.stderr));
    assertEquals(lines[0], `ok ${W} ${H}`);
    assert(/^ok \d+ \d+$/.test(lines[1]), lines[1]);
    assert(
      /^error .*a\.dng: RAW files need LibRaw, which was not found: .*apt-get install libraw20/
        .test(lines[2]),
      lines[2],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// --- the bindings against the installed header --------------------------------------------

const HEADER = "/usr/include/libraw/libraw.h";
const cc = await cCompiler();
const versionText = await Deno.readTextFile("/usr/include/libraw/libraw_version.h").catch(() => "");
const headerVersion = ["MAJOR", "MINOR", "PATCH"].map((p) =>
  Number(new RegExp(`#define LIBRAW_${p}_VERSION (\\d+)`).exec(versionText)?.[1] ?? NaN)
);
const headerNumber = (headerVersion[0] << 16) | (headerVersion[1] << 8) | headerVersion[2];
const why = !lib
  ? "no LibRaw"
  : !cc
  ? "no C compiler"
  : !versionText
  ? `no ${HEADER} (apt-get install libraw-dev)`
  : headerNumber !== lib.versionNumber
  ? `the header is LibRaw ${headerVersion.join(".")}, the library ${lib.version}`
  : "";
if (why) console.error(`raw_test: header check skipped, ${why}`);

Deno.test({
  name: "LibRaw bindings: struct offsets match the installed header",
  ignore: why !== "",
  async fn() {
    const v020 = headerVersion[0] === 0 && headerVersion[1] === 20;
    const fields: [string, string][] = [
      ["imgother.isoSpeed", "offsetof(libraw_imgother_t, iso_speed)"],
      ["imgother.shutter", "offsetof(libraw_imgother_t, shutter)"],
      ["imgother.aperture", "offsetof(libraw_imgother_t, aperture)"],
      ["imgother.focalLen", "offsetof(libraw_imgother_t, focal_len)"],
      ["iparams.make", "offsetof(libraw_iparams_t, make)"],
      ["iparams.model", "offsetof(libraw_iparams_t, model)"],
      ["iparams.nameSize", "sizeof(((libraw_iparams_t *)0)->make)"],
      ...Object.keys(OFFSETS.processedImage).map((k): [string, string] => [
        `processedImage.${k}`,
        `offsetof(libraw_processed_image_t, ${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)})`,
      ]),
      ["imageBitmap", "LIBRAW_IMAGE_BITMAP"],
      ["ioError", "LIBRAW_IO_ERROR"],
      ...(v020
        ? [[
          "adjustMaximumThr020",
          "offsetof(libraw_data_t, params) + offsetof(libraw_output_params_t, adjust_maximum_thr)",
        ] as [string, string]]
        : []),
    ];
    const out = await runC(
      cc!,
      `#include <stddef.h>\n#include <stdio.h>\n#include <libraw/libraw.h>\nint main(void) {\n${
        fields.map(([k, e]) => `  printf("%s %ld\\n", "${k}", (long)(${e}));`).join("\n")
      }\n  return 0;\n}\n`,
    );
    const c = Object.fromEntries(out.trim().split("\n").map((l) => l.split(" ")));
    const ours: Record<string, number> = { imageBitmap: IMAGE_BITMAP, ioError: IO_ERROR };
    for (const [group, o] of Object.entries(OFFSETS)) {
      if (typeof o === "number") ours[group] = o;
      else for (const [k, v] of Object.entries(o)) ours[`${group}.${k}`] = v;
    }
    for (const [k] of fields) strictEqual(ours[k], Number(c[k]), k);
    // 0.21 and later set adjust_maximum_thr through the C API instead of the offset.
    if (!v020) {
      assert(lib!.symbols.libraw_set_adjust_maximum_thr !== null);
      assert((await Deno.readTextFile(HEADER)).includes("libraw_set_adjust_maximum_thr"));
    }
  },
});
