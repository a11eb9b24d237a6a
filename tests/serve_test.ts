// The page's server without a browser (tools/serve/): options from the flag schemas, a job
// equal to infer's output, progress streamed while the network runs, upload limits, bad files
// reported in one line with the server still up, the queue, cancelling, expiry and cleanup,
// client paths that never reach the file system, and `deno task serve` stopped by a signal.

import { decodeImage, encodeImage } from "@lfdiff/io/codecs.ts";
import { DEFAULT_MAX_PIXELS, newImage } from "@lfdiff/io/image.ts";
import { synthesizeScene } from "@lfdiff/datasets/synth.ts";
import type { Flag } from "../tools/cli.ts";
import type { JobEvent } from "../tools/serve/jobs.ts";
import {
  flagControl,
  jobValues,
  pageControls,
  type ServerModel,
  serverModels,
} from "../tools/serve/options.ts";
import { type RunningServer, type ServeOptions, startServer } from "../tools/serve/server.ts";
import { BRACKET_FLAGS } from "../tools/bracket_flags.ts";
import { assert, assertEquals } from "./assert.ts";
import { runTool } from "./run_tool.ts";

const SAMPLE = new URL("../samples/bracket/", import.meta.url).pathname;
const SAMPLES = ["ev-2.jpg", "ev0.jpg", "ev+2.jpg"];
const TINY: ServerModel[] = await serverModels({ config: "tiny", untrained: true });

interface Upload {
  name: string;
  bytes: Uint8Array<ArrayBuffer>;
}

/** Small frames (TIFF, no EXIF: the EVs go with the job) from a synthetic scene. */
async function smallFrames(width = 48, height = 40, seed = 5): Promise<Upload[]> {
  const s = synthesizeScene({ width, height, seed });
  return await Promise.all(s.ldrs.map(async (img, i) => ({
    name: `frame${i + 1}.tif`,
    bytes: new Uint8Array(await encodeImage(img, "x.tif")),
  })));
}

const samples = async (): Promise<Upload[]> =>
  await Promise.all(SAMPLES.map(async (name) => ({
    name,
    bytes: await Deno.readFile(SAMPLE + name),
  })));

async function withServer(
  o: Partial<ServeOptions>,
  fn: (s: RunningServer) => Promise<void>,
): Promise<void> {
  const server = await startServer({
    hostname: "127.0.0.1",
    port: 0,
    models: TINY,
    device: "cpu",
    decode: { maxPixels: DEFAULT_MAX_PIXELS },
    minFiles: 2,
    maxFiles: 9,
    maxFileBytes: 1e7,
    maxJobBytes: 4e7,
    ttlMs: 600_000,
    maxWaiting: 8,
    ...o,
  });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

function form(files: Upload[], fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  for (const u of files) f.append("frame", new File([u.bytes], u.name));
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

/** POST /api/jobs: the status and the JSON answer. */
async function submit(
  s: RunningServer,
  body: FormData | ReadableStream<Uint8Array>,
): Promise<{ status: number; id?: string; error?: string }> {
  const r = await fetch(`${s.url}api/jobs`, { method: "POST", body });
  return { status: r.status, ...(await r.json()) };
}

/** Every event of a job's stream with the time it arrived here, up to the last. */
async function events(
  s: RunningServer,
  id: string,
  onEvent: (e: JobEvent) => void = () => {},
): Promise<{ e: JobEvent; at: number }[]> {
  const r = await fetch(`${s.url}api/jobs/${id}/events`);
  assertEquals(r.headers.get("content-type"), "text/event-stream");
  const out: { e: JobEvent; at: number }[] = [];
  let text = "";
  for await (const chunk of r.body!.pipeThrough(new TextDecoderStream())) {
    text += chunk;
    let end;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      if (block.startsWith("data: ")) {
        out.push({ e: JSON.parse(block.slice(6)), at: performance.now() });
        onEvent(out.at(-1)!.e);
      }
    }
  }
  return out;
}

const last = async (s: RunningServer, id: string) => (await events(s, id)).at(-1)!.e;

/** The job's final message, which must be one line naming no server folder. */
async function failure(s: RunningServer, files: Upload[], fields = {}): Promise<string> {
  const r = await submit(s, form(files, fields));
  assertEquals(r.status, 202, r.error);
  const e = await last(s, r.id!);
  assertEquals(e.type, "failed");
  const message = (e as { message: string }).message;
  assert(!message.includes("\n") && !message.includes(s.root), message);
  return message;
}

/** The status of GET /api/options sent with this Host header (fetch would set its own). */
async function statusFor(s: RunningServer, host: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(s.url).port) });
  await conn.write(
    new TextEncoder().encode(
      `GET /api/options HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    ),
  );
  let text = "";
  for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) text += chunk;
  return Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
}

/** Folders left under the server's root (the job folders). */
async function jobDirs(s: RunningServer): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(s.root)) out.push(e.name);
  return out;
}

Deno.test("serve options: the page's controls come from infer's flag schemas", async () => {
  const f = (arg: string): Flag => ({ type: "string", arg, help: "h", default: "auto" });
  assertEquals(flagControl("align", f("auto|off|translation|homography"), "bracket"), {
    name: "align",
    group: "bracket",
    help: "h",
    default: "auto",
    choices: ["auto", "off", "translation", "homography"],
  });
  assertEquals(flagControl("response", f("auto|gamma|FILE"), "bracket")?.input, "file");
  assertEquals(flagControl("tile", f("N|auto"), "model")?.input, "number");
  assertEquals(flagControl("ev", f("E1,E2,..."), "bracket"), null);
  assertEquals(flagControl("out", f("DIR"), "bracket"), null);
  const names = pageControls(TINY).map((c) => c.name);
  for (const n of Object.keys(BRACKET_FLAGS)) assert(names.includes(n), `--${n} offered`);
  for (const n of ["model", "steps", "seed", "tile"]) assert(names.includes(n), n);
  for (const n of ["weights", "config", "untrained", "device", "max-pixels"]) {
    assert(!names.includes(n), `--${n} is the server's, not the page's`);
  }
  // A FILE value only ever comes as an upload, stored under a name the server chooses (a
  // made-up flag, so that the test holds whatever flags bracket_flags.ts has).
  const controls = [flagControl("curve", f("auto|gamma|FILE"), "bracket")!, ...pageControls(TINY)];
  const stored: string[] = [];
  const store = (name: string, file: File) => {
    stored.push(`${name}:${file.name}`);
    return Promise.resolve("/server/chosen/path");
  };
  const withFile = new FormData();
  withFile.append("curve", new File(["x"], "../../curve.txt"));
  const v = await jobValues(withFile, controls, TINY, store, []);
  assertEquals([v.values.curve, stored], ["/server/chosen/path", ["curve:../../curve.txt"]]);
  for (const bad of ["/etc/passwd", "../weights/x.safetensors", "curve.txt"]) {
    const asText = new FormData();
    asText.append("curve", bad);
    const e = await jobValues(asText, controls, TINY, store, []).catch((e) => e);
    assert(/^--curve must be auto or gamma or a file, got "/.test(e.message), e.message);
  }
  const other = new FormData();
  other.append("model", "../../weights/lfdiff-small.safetensors");
  const e = await jobValues(other, controls, TINY, store, []).catch((e) => e);
  assertEquals(e.message, "model must be one of untrained-tiny");
});

Deno.test("serve: a job gives infer's output for the same files and flags, streamed live", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await withServer({}, async (s) => {
      const options = await (await fetch(`${s.url}api/options`)).json();
      assertEquals(
        options.controls.find((c: { name: string }) => c.name === "ref").default,
        "auto",
      );
      const r = await submit(s, form(await samples(), { ref: "1", seed: "3", steps: "2" }));
      assertEquals(r.status, 202, r.error);
      const seen = await events(s, r.id!);
      const done = seen.at(-1)!;
      assertEquals(done.e.type, "done", JSON.stringify(done.e));
      const result = (done.e as {
        result: {
          frames: { name: string; alignment: string }[];
          seconds: { prior: number; reconstruction: number };
        };
      }).result;
      // Progress reached this side while the network ran, not in one burst at the end: the
      // first DDIM step came here a good part of the network's time before the result.
      const steps = seen.filter(({ e }) => e.type === "progress" && /DDIM step/.test(e.stage));
      assert(steps.length >= 2, `${steps.length} DDIM step events`);
      const network = 1000 * (result.seconds.prior + result.seconds.reconstruction);
      const ahead = (done.at - steps[0].at) / network;
      assert(ahead > 0.2, `the first step came ${ahead} of the network's time before the end`);
      assertEquals(result.frames.map((f) => f.name), ["ev-2.jpg", "ev-2.jpg", "ev0.jpg"]);
      assertEquals(result.frames[1].alignment, "frame 1: the reference");
      const ran = await runTool("infer", [
        ...["--config", "tiny", "--untrained", "--ref", "1", "--seed", "3", "--steps", "2"],
        ...["--ldr", ...SAMPLES.map((f) => SAMPLE + f), "--out", `${tmp}/infer.exr`],
      ]);
      assertEquals(ran.code, 0, ran.err);
      const served = await fetch(`${s.url}api/jobs/${r.id}/result.exr?download`);
      assertEquals(
        served.headers.get("content-disposition"),
        `attachment; filename="ev-2-hdr.exr"`,
      );
      const exr = new Uint8Array(await served.arrayBuffer());
      assertEquals(exr, await Deno.readFile(`${tmp}/infer.exr`), "the EXR, byte for byte");
      // The Radiance file is written from the same pixels: equal within RGBE's precision.
      const hdr = await decodeImage(
        new Uint8Array(await (await fetch(`${s.url}api/jobs/${r.id}/result.hdr`)).arrayBuffer()),
        "result.hdr",
      );
      const half = await decodeImage(exr, "result.exr");
      const worst = hdr.data.reduce(
        (m, v, i) => Math.max(m, Math.abs(v - half.data[i]) / Math.max(half.data[i], 1e-3)),
        0,
      );
      assert(worst < 0.01, `the HDR file is ${worst} from the EXR`);
      const ref = await fetch(`${s.url}api/jobs/${r.id}/reference.png`);
      assertEquals(ref.headers.get("content-type"), "image/png");
      await ref.body?.cancel();
      // The response infer estimated and saved is the one the page offers...
      const curve = await fetch(`${s.url}api/jobs/${r.id}/result.response.json?download`);
      assertEquals(
        curve.headers.get("content-disposition"),
        `attachment; filename="ev-2.response.json"`,
      );
      const saved = await Deno.readFile(`${tmp}/infer.response.json`);
      assertEquals(new Uint8Array(await curve.arrayBuffer()), saved);
      // ...and given back as an upload (--response FILE) it is used as infer uses the file.
      const withCurve = form(await samples(), { ref: "1", seed: "3", steps: "2" });
      withCurve.append("response", new File([saved], "../../my camera.response.json"));
      const b = await submit(s, withCurve);
      const fromFile = await last(s, b.id!);
      assertEquals(fromFile.type, "done", JSON.stringify(fromFile));
      const given = (fromFile as { result: { response: string } }).result.response;
      assert(given.startsWith("from a file"), given);
      const again = await runTool("infer", [
        ...["--config", "tiny", "--untrained", "--ref", "1", "--seed", "3", "--steps", "2"],
        ...["--response", `${tmp}/infer.response.json`],
        ...["--ldr", ...SAMPLES.map((f) => SAMPLE + f), "--out", `${tmp}/file.exr`],
      ]);
      assertEquals(again.code, 0, again.err);
      const exrB = await fetch(`${s.url}api/jobs/${b.id}/result.exr`);
      assertEquals(
        new Uint8Array(await exrB.arrayBuffer()),
        await Deno.readFile(`${tmp}/file.exr`),
      );
      const none = await fetch(`${s.url}api/jobs/${b.id}/result.response.json`);
      assertEquals(none.status, 404, "nothing estimated, nothing offered");
      await none.body?.cancel();
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("serve probe: EXIF exposure times, and thumbnails of what browsers cannot show", async () => {
  await withServer({}, async (s) => {
    const probe = async (name: string, bytes: Uint8Array<ArrayBuffer>, thumbnail = false) => {
      const q = new URLSearchParams({ name, ...(thumbnail ? { thumbnail: "1" } : {}) });
      const r = await fetch(`${s.url}api/probe?${q}`, { method: "POST", body: bytes });
      return { status: r.status, ...(await r.json()) };
    };
    const jpeg = await probe("ev-2.jpg", await Deno.readFile(SAMPLE + "ev-2.jpg"));
    assertEquals([jpeg.status, jpeg.exposureTime, jpeg.thumbnail], [200, 1 / 400, undefined]);
    const big = newImage(640, 400, 3, 16);
    big.data.forEach((_, i) => big.data[i] = (i % 1920) / 1920);
    const tiff = await probe("frame1.tif", new Uint8Array(await encodeImage(big, "x.tif")), true);
    assertEquals([tiff.exposureTime, tiff.width, tiff.height], [null, 640, 400]);
    const png = await decodeImage(
      Uint8Array.from(atob(tiff.thumbnail.split(",")[1]), (c) => c.charCodeAt(0)),
      "thumbnail.png",
    );
    assertEquals([png.width, png.height], [320, 200]);
    const bad = await probe("../x/notes.txt", new TextEncoder().encode("not an image"), true);
    assertEquals(bad.status, 422);
    assert(bad.error.startsWith("notes.txt: unrecognised image format"), bad.error);
  });
});

Deno.test("serve: limits refuse in one sentence before anything runs", async () => {
  const frames = await smallFrames(24, 20);
  await withServer({ maxFileBytes: 20_000, maxJobBytes: 30_000, maxFiles: 3 }, async (s) => {
    const one = await submit(s, form(frames.slice(0, 1), { evs: "0" }));
    assertEquals([one.status, one.error], [400, "bracket: needs 2 to 3 frames, got 1"]);
    const four = await submit(s, form([...frames, frames[0]]));
    assertEquals(four.status, 400);
    const big = { name: "big.tif", bytes: new Uint8Array(25_000) };
    const r = await submit(s, form([big, frames[0]]));
    assertEquals(r.status, 413);
    assertEquals(r.error, "big.tif is 25 kB, over the server's limit of 20 kB per file");
    const fill = { name: "fill.tif", bytes: new Uint8Array(15_000) };
    const job = await submit(s, form([fill, fill, fill]));
    assertEquals([job.status, job.error], [
      413,
      "the bracket is 45 kB, over the server's limit of 30 kB per job",
    ]);
    // A body streamed without a length is cut off at the limit too.
    let sent = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(c) {
        if ((sent += 8192) > 1 << 21) c.close();
        else c.enqueue(new Uint8Array(8192));
      },
    });
    const streamed = await submit(s, endless);
    assertEquals(streamed.status, 413);
    const unknown = await submit(s, form(frames, { evs: "0,2,4", reff: "1" }));
    assertEquals([unknown.status, unknown.error], [400, `unknown option "reff"`]);
    const value = await submit(s, form(frames, { evs: "0,2,4", tile: "../../etc" }));
    assertEquals(value.error, `--tile must be auto or a number, got "../../etc"`);
    const probe = await fetch(`${s.url}api/probe?name=big.tif`, {
      method: "POST",
      body: new Uint8Array(25_000),
    });
    assertEquals(probe.status, 413);
    await probe.body?.cancel();
    assertEquals(await jobDirs(s), [], "refused uploads leave nothing behind");
  });
});

Deno.test("serve: bad files fail their job in one line, and the server keeps serving", async () => {
  const frames = await smallFrames();
  await withServer({ decode: { maxPixels: 48 * 40 } }, async (s) => {
    const text = { name: "notes.txt", bytes: new TextEncoder().encode("not an image") };
    const bad = await failure(s, [frames[0], text, frames[2]], { evs: "0,2,4" });
    assert(bad.startsWith("notes.txt: unrecognised image format"), bad);
    const other = (await smallFrames(32, 40))[1];
    const sizes = await failure(s, [frames[0], { ...other, name: "small.tif" }], { evs: "0,2" });
    assertEquals(sizes, "small.tif: is 32x40, frame1.tif is 48x40");
    const large = (await smallFrames(64, 40))[0];
    const tooLarge = await failure(s, [large, large], { evs: "0,2" });
    assert(/^frame1\.tif: .*(limit|pixels)/.test(tooLarge), tooLarge);
    const noExif = await failure(s, frames);
    assert(/^frame1\.tif: has no EXIF exposure time/.test(noExif), noExif);
    const evs = await failure(s, frames, { evs: "0,2" });
    assert(/^bracket: needs 3 exposure values/.test(evs), evs);
    const ref = await failure(s, frames, { evs: "0,2,4", ref: "7" });
    assertEquals(ref, "--ref must be auto or a frame from 1 to 3, got 7");
    // The server is still up, and runs the next good job.
    const r = await submit(s, form(frames, { evs: "-2,0,2" }));
    assertEquals((await last(s, r.id!)).type, "done");
    assertEquals((await jobDirs(s)).length, 1, "failed jobs' folders are gone at once");
  });
});

Deno.test("serve: client paths never reach the file system", async () => {
  const frames = await smallFrames();
  const outside = await Deno.makeTempDir();
  try {
    await withServer({}, async (s) => {
      const hostile = ["../../../../../../../" + outside + "/evil.tif", "..\\..\\evil.tif", "/"];
      const r = await submit(
        s,
        form(frames.map((f, i) => ({ ...f, name: hostile[i] })), { evs: "0,2,4" }),
      );
      const e = await last(s, r.id!);
      assertEquals(e.type, "done");
      const names = (e as { result: { frames: { name: string }[] } }).result.frames;
      assertEquals(names.map((f) => f.name), ["evil.tif", "evil.tif", "frame 3"]);
      assertEquals([...Deno.readDirSync(outside)], [], "nothing written outside the job folder");
      const stored = [...Deno.readDirSync(`${s.root}/${(await jobDirs(s))[0]}/in`)].map((e) =>
        e.name
      ).sort();
      assertEquals(stored, ["frame-1.tif", "frame-2.tif", "frame-3"]);
      for (
        const path of [
          `api/jobs/${r.id}/..%2F..%2Fin%2Fframe-1.tif`,
          `api/jobs/${r.id}/%2e%2e`,
          `api/jobs/${r.id}/in`,
          `api/jobs/../../etc/passwd`,
          `api/jobs/${r.id!.replace(/.$/, (c) => (c === "0" ? "1" : "0"))}/result.hdr`, // not a job
          "app.js/../../README.md",
          "web/app.js",
          "..%2FREADME.md",
        ]
      ) {
        const got = await fetch(`${s.url}${path}`);
        assertEquals(got.status, 404, `${path}: ${got.url}`);
        await got.body?.cancel();
      }
      const page = await fetch(s.url);
      assert((await page.text()).includes("<title>lfdiff"));
      // A loopback server answers only to loopback names (no DNS rebinding), and refuses
      // other sites' posts.
      assertEquals(await statusFor(s, "evil.example"), 403);
      assertEquals(await statusFor(s, `localhost:${new URL(s.url).port}`), 200);
      const cross = await fetch(`${s.url}api/jobs`, {
        method: "POST",
        headers: { origin: "http://evil.example" },
        body: form(frames, { evs: "0,2,4" }),
      });
      assertEquals(cross.status, 403);
      await cross.body?.cancel();
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("serve: jobs queue one at a time, waiting jobs are told their place", async () => {
  const frames = await smallFrames();
  await withServer({ maxWaiting: 2 }, async (s) => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await submit(s, form(frames, { evs: "0,2,4", seed: String(i) }));
      assertEquals(r.status, 202, r.error);
      ids.push(r.id!);
    }
    const full = await submit(s, form(frames, { evs: "0,2,4" }));
    assertEquals(full.status, 503);
    assert(/^the queue is full \(2 jobs waiting\)/.test(full.error!), full.error);
    const streams = await Promise.all(ids.map((id) => events(s, id)));
    const waited = streams.map((st) =>
      st.filter(({ e }) => e.type === "waiting").map(({ e }) =>
        (e as { position: number }).position
      )
    );
    assertEquals(waited[1][0], 1);
    assertEquals(waited[2].slice(0, 2), [2, 1], "the third job moves up when the first ends");
    const ends = streams.map((st) => st.at(-1)!);
    assert(ends.every(({ e }) => e.type === "done"));
    assert(ends[0].at <= ends[1].at && ends[1].at <= ends[2].at, "finished in order");
    const jobs = await Promise.all(
      ids.map(async (id) => (await fetch(`${s.url}api/jobs/${id}`)).json()),
    );
    assertEquals(jobs.map((j) => j.state), ["done", "done", "done"]);
  });
});

Deno.test("serve: cancelling, expiry and shutdown remove the jobs' folders", async () => {
  const frames = await smallFrames(96, 64);
  let root = "";
  await withServer({ ttlMs: 1500 }, async (s) => {
    root = s.root;
    const a = await submit(s, form(frames, { evs: "0,2,4", steps: "20" }));
    const b = await submit(s, form(frames, { evs: "0,2,4" }));
    const c = await submit(s, form(frames, { evs: "0,2,4" }));
    // The waiting one goes at once, the running one at its next progress message.
    await fetch(`${s.url}api/jobs/${c.id}`, { method: "DELETE" }).then((r) => r.body?.cancel());
    let asked = false;
    const seen = await events(s, a.id!, (e) => {
      if (asked || e.type !== "progress" || !/DDIM step/.test(e.stage)) return;
      asked = true;
      fetch(`${s.url}api/jobs/${a.id}`, { method: "DELETE" }).then((r) => r.body?.cancel());
    });
    assertEquals(seen.at(-1)!.e, { type: "cancelled", message: "cancelled" });
    // A page that goes away mid-job (its event stream dropped) leaves the server as it was.
    const dropped = await fetch(`${s.url}api/jobs/${b.id}/events`);
    const reader = dropped.body!.getReader();
    await reader.read();
    await reader.cancel();
    assertEquals((await last(s, c.id!)).type, "cancelled");
    assertEquals((await last(s, b.id!)).type, "done", "the next job runs after a cancel");
    assertEquals((await jobDirs(s)).length, 1);
    // After the TTL the results and their folder are gone.
    await new Promise((r) => setTimeout(r, 1700));
    assertEquals(await jobDirs(s), []);
    const gone = await fetch(`${s.url}api/jobs/${b.id}/result.hdr`);
    assertEquals(gone.status, 404);
    await gone.body?.cancel();
    // Shutdown with a job running and one waiting.
    await submit(s, form(frames, { evs: "0,2,4" }));
    await submit(s, form(frames, { evs: "0,2,4" }));
  });
  assert(!(await Deno.stat(root).then(() => true, () => false)), "the root is removed at close");
});

Deno.test("deno task serve: starts, warns off loopback, and stops cleanly on SIGINT", async () => {
  const help = await runTool("serve", ["--help"]);
  assertEquals(help.code, 0);
  assert(help.out.includes("--max-job-mb"));
  const tmp = await Deno.makeTempDir();
  // `deno task serve` itself, so the task's permissions are tested too.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "serve", "--untrained", "--config", "tiny", "--port", "0", "--host", "0.0.0.0"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
    env: { TMPDIR: tmp },
  }).spawn();
  try {
    const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const line = (await out.read()).value ?? "";
    const port = /http:\/\/0\.0\.0\.0:(\d+)\//.exec(line)?.[1];
    assert(port, line);
    const url = `http://127.0.0.1:${port}/`;
    const frames = await smallFrames(96, 64);
    const r = await fetch(`${url}api/jobs`, {
      method: "POST",
      body: form(frames, { evs: "0,2,4" }),
    });
    assertEquals(r.status, 202);
    await r.body?.cancel();
    assertEquals([...Deno.readDirSync(tmp)].length, 1, "the server's root folder");
    child.kill("SIGINT");
    const status = await child.status;
    await out.cancel();
    const err = await new Response(child.stderr).text();
    assertEquals(status.code, 0, err);
    assert(/WARNING: listening on 0\.0\.0\.0/.test(err), err);
    assert(/SIGINT: stopping/.test(err) && /stopped/.test(err), err);
    assertEquals([...Deno.readDirSync(tmp)], [], "uploads removed at shutdown");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
