// The page's fusions and probes, run off the server's thread: the network runs synchronously,
// and here its progress messages reach the server (and the page's event stream) while it
// runs. A job takes infer's path: readBracket, then tools/fusion.ts (the model and frames the
// flags choose, the network, the files written as infer writes them). Cancelling sets a shared flag that
// the next progress message turns into an error, which unwinds the network's scopes.

/// <reference lib="deno.worker" />

import { decodeImage, encodeImage, writeImage } from "../../io/codecs.ts";
import { exposureTime } from "../../io/exif.ts";
import { escapeText } from "../../io/files.ts";
import { type Image, newImage, toRgb } from "../../io/image.ts";
import { decodeRaw, isRaw } from "../../io/raw.ts";
import { srgbEncode } from "../../imaging/tonemap.ts";
import { describeAlignment } from "../../imaging/align.ts";
import { describeResponse } from "../../imaging/response.ts";
import { readBracket } from "../../model/pipeline.ts";
import { framesUsed, fuseWithFlags, writeFusion } from "../fusion.ts";
import { chooseModel, MODEL_FLAGS, useDevice } from "../model_flags.ts";
import type { JobInput, JobResult } from "./jobs.ts";
import type { ProbeResult, WorkerReply, WorkerRequest } from "./fusion.ts";

/** The model flags as infer's parser gives them when not given: their defaults. */
const MODEL_DEFAULTS = Object.fromEntries(
  Object.entries(MODEL_FLAGS).flatMap(([k, f]) => "default" in f ? [[k, f.default]] : []),
);

class Cancelled extends Error {}

/** A linear frame (RAW) encoded for the screen. */
const forDisplay = (img: Image): Image => ({ ...img, data: img.data.map(srgbEncode) });

async function fuse(
  input: JobInput,
  cancel: Int32Array,
  progress: (stage: string, done: number, total: number) => void,
): Promise<JobResult> {
  const t0 = performance.now();
  const onProgress = (stage: string, done: number, total: number) => {
    if (Atomics.load(cancel, 0)) throw new Cancelled();
    progress(stage, done, total);
  };
  onProgress("reading", 0, input.files.length);
  const bracket = await readBracket(input.files, { evs: input.evs, decode: input.decode });
  const notes: string[] = [];
  const tRead = performance.now();
  const f = await fuseWithFlags(
    bracket,
    { ...MODEL_DEFAULTS, ...input.values, ...input.model.values, device: input.device },
    { say: (s) => notes.push(s), onProgress },
  );
  onProgress("writing", 0, 1);
  const tWrite = performance.now(), out = `${input.dir}/out`;
  const written = await writeFusion(`${out}/result.exr`, f, { preview: false });
  await writeImage(`${out}/result.hdr`, f.hdr);
  const { width, height } = bracket.ldrs[0];
  const ref = f.prepared.choice.indices[1], refImage = bracket.ldrs[ref];
  await writeImage(
    `${out}/reference.png`,
    bracket.encoding === "linear" ? forDisplay(refImage) : refImage,
  );
  const names = input.files.map((file) => input.labels[file]);
  return {
    width,
    height,
    evs: bracket.evs,
    evSource: bracket.evSource,
    frames: framesUsed(f).map((u) => ({
      name: names[u.index],
      ev: u.ev,
      role: u.role,
      alignment: describeAlignment(u.alignment, u.index + 1, width, height),
    })),
    ref,
    response: describeResponse(f.prepared.response),
    responseSaved: written.response !== null,
    variant: f.choice.model.config.variant,
    steps: f.choice.steps,
    seed: f.choice.seed,
    tile: f.tile,
    trained: f.choice.trained,
    notes,
    seconds: {
      read: (tRead - t0) / 1000,
      prior: f.timings.prior / 1000,
      reconstruction: f.timings.reconstruction / 1000,
      write: (performance.now() - tWrite) / 1000,
      total: (performance.now() - t0) / 1000,
    },
    units: "shortest-exposure",
  };
}

/** Box-filtered to at most `side` pixels on its long edge. */
function thumbnail(img: Image, side: number): Image {
  const k = Math.max(1, Math.ceil(Math.max(img.width, img.height) / side));
  const w = Math.max(1, Math.floor(img.width / k)), h = Math.max(1, Math.floor(img.height / k));
  const out = newImage(w, h, 3, 8), c = img.channels;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let q = 0; q < 3; q++) {
        let s = 0;
        for (let dy = 0; dy < k; dy++) {
          for (let dx = 0; dx < k; dx++) {
            s += img.data[((y * k + dy) * img.width + x * k + dx) * c + q];
          }
        }
        out.data[(y * w + x) * 3 + q] = s / (k * k);
      }
    }
  }
  return out;
}

/**
 * A dropped file's exposure time, read as loadBracket reads it (a RAW's metadata, else EXIF),
 * and when asked a PNG thumbnail, for the formats browsers do not show (TIFF, RAW).
 */
async function probe(
  bytes: Uint8Array,
  name: string,
  wantThumbnail: boolean,
  decode: JobInput["decode"],
): Promise<ProbeResult> {
  let time: number | undefined, img: Image | undefined;
  if (isRaw(bytes, name)) {
    const frame = decodeRaw(bytes, name, decode);
    time = frame.exposureTime;
    img = forDisplay(frame.image);
  } else {
    time = exposureTime(bytes);
    if (wantThumbnail) img = toRgb(await decodeImage(bytes, name, decode));
  }
  const r: ProbeResult = { exposureTime: time ?? null };
  if (wantThumbnail && img) {
    r.width = img.width;
    r.height = img.height;
    r.thumbnail = await encodeImage(thumbnail(img, 320), "thumbnail.png");
  }
  return r;
}

/** A message naming the client's files, never the server's folders. */
function shown(message: string, input: Pick<JobInput, "dir" | "labels">): string {
  const paths = Object.keys(input.labels).sort((a, b) => b.length - a.length);
  for (const p of paths) message = message.replaceAll(p, escapeText(input.labels[p]));
  return message.replaceAll(`${input.dir}/`, "");
}

const reply = (m: WorkerReply) => self.postMessage(m);

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const m = e.data;
  try {
    if (m.type === "job") {
      const cancel = new Int32Array(m.cancel);
      const result = await fuse(
        m.input,
        cancel,
        (stage, done, total) => reply({ type: "progress", stage, done, total }),
      );
      reply({ type: "done", result });
    } else if (m.type === "check") {
      const notes: string[] = [];
      useDevice(m.device);
      await chooseModel(
        { ...MODEL_DEFAULTS, ...m.model.values, device: m.device },
        (s) => notes.push(s),
      );
      reply({ type: "checked", notes });
    } else {
      reply({ type: "probed", result: await probe(m.bytes, m.name, m.thumbnail, m.decode) });
    }
  } catch (err) {
    const message = err instanceof Cancelled
      ? "cancelled"
      : err instanceof Error
      ? err.message
      : String(err);
    reply({
      type: "failed",
      message: m.type === "job" ? shown(message, m.input) : message,
    });
  }
};
