// LibRaw (the C API of libraw_r.so, the thread-safe build) through Deno.dlopen: open a RAW
// file from memory, unpack it, develop it with dcraw_process and copy the result out.
// Supported: 0.20 (Debian bookworm's libraw20) and 0.21 or later (libraw23 on newer
// distributions). Parameters are set through the C API's setters, metadata read through its
// getters; the one parameter 0.20 has no setter for (adjust_maximum_thr) is written at its
// offset in libraw_data_t, known for 0.20 only. The few struct fields read here (the
// processed image's header, imgother's exposure fields, iparams' make and model) sit at the
// same offsets in the 0.20 and 0.22 headers. tests/raw_test.ts checks every offset against
// the installed header when a C compiler and libraw-dev are there.

import { envDirs, type Found, openLibrary } from "./library.ts";

const symbols = {
  libraw_versionNumber: { parameters: [], result: "i32" },
  libraw_version: { parameters: [], result: "pointer" },
  libraw_strerror: { parameters: ["i32"], result: "pointer" },
  libraw_init: { parameters: ["u32"], result: "pointer" },
  libraw_open_buffer: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  libraw_unpack: { parameters: ["pointer"], result: "i32" },
  libraw_dcraw_process: { parameters: ["pointer"], result: "i32" },
  libraw_dcraw_make_mem_image: { parameters: ["pointer", "buffer"], result: "pointer" },
  libraw_dcraw_clear_mem: { parameters: ["pointer"], result: "void" },
  libraw_close: { parameters: ["pointer"], result: "void" },
  libraw_set_dataerror_handler: {
    parameters: ["pointer", "function", "pointer"],
    result: "void",
  },
  libraw_set_demosaic: { parameters: ["pointer", "i32"], result: "void" },
  libraw_set_output_color: { parameters: ["pointer", "i32"], result: "void" },
  libraw_set_output_bps: { parameters: ["pointer", "i32"], result: "void" },
  libraw_set_gamma: { parameters: ["pointer", "i32", "f32"], result: "void" },
  libraw_set_no_auto_bright: { parameters: ["pointer", "i32"], result: "void" },
  libraw_set_highlight: { parameters: ["pointer", "i32"], result: "void" },
  libraw_set_user_mul: { parameters: ["pointer", "i32", "f32"], result: "void" },
  /** 0.21 and later. */
  libraw_set_adjust_maximum_thr: {
    parameters: ["pointer", "f32"],
    result: "void",
    optional: true,
  },
  libraw_get_raw_width: { parameters: ["pointer"], result: "i32" },
  libraw_get_raw_height: { parameters: ["pointer"], result: "i32" },
  libraw_get_cam_mul: { parameters: ["pointer", "i32"], result: "f32" },
  libraw_get_pre_mul: { parameters: ["pointer", "i32"], result: "f32" },
  libraw_get_rgb_cam: { parameters: ["pointer", "i32", "i32"], result: "f32" },
  libraw_get_iparams: { parameters: ["pointer"], result: "pointer" },
  libraw_get_imgother: { parameters: ["pointer"], result: "pointer" },
} as const;

type Symbols = Found<typeof symbols>["lib"]["symbols"];

/** Byte offsets of the struct fields read or written here (x86-64 and aarch64 Linux). */
export const OFFSETS = {
  /** libraw_data_t.params.adjust_maximum_thr in 0.20.x (float). */
  adjustMaximumThr020: 5288,
  imgother: { isoSpeed: 0, shutter: 4, aperture: 8, focalLen: 12 },
  iparams: { make: 4, model: 68, nameSize: 64 },
  processedImage: { type: 0, height: 4, width: 6, colors: 8, bits: 10, dataSize: 12, data: 16 },
} as const;

/** LibRaw_image_formats: LIBRAW_IMAGE_BITMAP, what dcraw_make_mem_image returns. */
export const IMAGE_BITMAP = 2;
/** LIBRAW_IO_ERROR: from a buffer, a read past its end. */
export const IO_ERROR = -100009;
/** user_qual: 3 is AHD, dcraw's and LibRaw's default demosaic. */
export const DEMOSAIC_AHD = 3;

export const HINT =
  "install it (Debian/Ubuntu: apt-get install libraw20, or libraw23 on newer releases) " +
  "or set LFDIFF_LIBRAW_LIB_DIR";

export interface LibRaw {
  path: string;
  /** "0.20.2-Release" */
  version: string;
  /** (major << 16) | (minor << 8) | patch */
  versionNumber: number;
  symbols: Symbols;
  /** Turns off the rescaling of `maximum` to the brightest pixel found (every version). */
  disableAdjustMaximum(handle: Deno.PointerObject): void;
}

/** LibRaw's message for a status code. */
export function strerror(lib: LibRaw, code: number): string {
  const p = lib.symbols.libraw_strerror(code);
  return p ? Deno.UnsafePointerView.getCString(p) : `error ${code}`;
}

/**
 * Opens LibRaw: the folders of LFDIFF_LIBRAW_LIB_DIR alone when it is set (an explicit choice,
 * and the way to run without it), else by soname and then the usual folders; the newest
 * soname first. Throws LibraryNotFound or LibraryLoadError (with the loader's reason), or an
 * Error naming a version this file has no layout for.
 */
export function openLibRaw(): LibRaw {
  try {
    if (!Deno.env.get("OMP_WAIT_POLICY")) Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
  } catch { /* no --allow-env: libgomp's default */ }
  const names = [
    "libraw_r.so.23",
    "libraw_r.so.20",
    "libraw.so.23",
    "libraw.so.20",
    "libraw_r.so",
    "libraw.so",
  ];
  // Full paths only, when folders are named: the loader's own search by soname would find a
  // system copy behind them.
  const chosen = envDirs("LFDIFF_LIBRAW_LIB_DIR").flatMap((d) => names.map((n) => `${d}/${n}`));
  const found = chosen.length > 0 ? openLibrary("LibRaw", chosen, [], symbols, HINT) : openLibrary(
    "LibRaw",
    names,
    [
      "/usr/lib/x86_64-linux-gnu",
      "/usr/lib/aarch64-linux-gnu",
      "/usr/local/lib",
      "/usr/lib64",
    ],
    symbols,
    HINT,
  );
  const s = found.lib.symbols;
  const versionNumber = s.libraw_versionNumber();
  const major = versionNumber >> 16, minor = versionNumber >> 8 & 0xff;
  const vp = s.libraw_version();
  const version = vp
    ? Deno.UnsafePointerView.getCString(vp)
    : `${major}.${minor}.${versionNumber & 0xff}`;
  let disableAdjustMaximum: (h: Deno.PointerObject) => void;
  if (s.libraw_set_adjust_maximum_thr) {
    const set = s.libraw_set_adjust_maximum_thr;
    disableAdjustMaximum = (h) => set(h, 0);
  } else if (major === 0 && minor === 20) {
    disableAdjustMaximum = (h) => {
      const buf = Deno.UnsafePointerView.getArrayBuffer(h, 4, OFFSETS.adjustMaximumThr020);
      new DataView(buf).setFloat32(0, 0, true);
    };
  } else {
    found.lib.close();
    throw new Error(
      `LibRaw ${version} (${found.path}) is not supported: lfdiff reads LibRaw 0.20 and later`,
    );
  }
  return { path: found.path, version, versionNumber, symbols: s, disableAdjustMaximum };
}
