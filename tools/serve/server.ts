// The page's HTTP server: the page itself (web/, read once at start), its options (the flag
// schemas, tools/serve/options.ts), probes of dropped files, and jobs (tools/serve/jobs.ts)
// with their event streams and result files. Every file it touches has a name it made:
// uploads go to job folders under one temporary root, as frame-N plus a sanitised extension,
// and a client names a job by its random id and a result by a name from RESULT_FILES.

import { Buffer } from "node:buffer";
import { escapeText } from "../../io/files.ts";
import type { DecodeOptions } from "../../io/image.ts";
import { Fusion } from "./fusion.ts";
import {
  type Job,
  type JobEvent,
  JobQueue,
  QueueFullError,
  removeDir,
  RESULT_FILES,
} from "./jobs.ts";
import { jobValues, pageControls, type ServerModel } from "./options.ts";

export interface ServeOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  models: ServerModel[];
  device: string;
  decode: DecodeOptions;
  minFiles: number;
  maxFiles: number;
  maxFileBytes: number;
  maxJobBytes: number;
  /** How long a job's results (and its folder) are kept after it ends. */
  ttlMs: number;
  maxWaiting: number;
}

export interface RunningServer {
  url: string;
  /** The folder holding every job's folder; removed by close(). */
  root: string;
  queue: JobQueue;
  /** What loading the models said (untrained weights...). */
  notes: string[];
  /** Cancels the jobs, ends the streams, closes the listener and removes the folders. */
  close(): Promise<void>;
}

const WEB = new URL("../../web/", import.meta.url);
const PAGE_FILES: Record<string, [string, string]> = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/app.js": ["app.js", "text/javascript; charset=utf-8"],
  "/hdr.js": ["hdr.js", "text/javascript; charset=utf-8"],
  "/style.css": ["style.css", "text/css; charset=utf-8"],
};
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};
/** Multipart framing allowed on top of a job's file bytes. */
const FORM_OVERHEAD = 1 << 20;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An error the client caused, with the status it gets; the message is one sentence. */
class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });

const mb = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB` : `${Math.ceil(n / 1e3)} kB`;

/** The body, refused once it passes `limit` bytes (announced or streamed). */
async function readLimited(
  req: Request,
  limit: number,
  tooLarge: () => string,
): Promise<Uint8Array<ArrayBuffer>> {
  const announced = Number(req.headers.get("content-length") ?? 0);
  if (announced > limit) throw new HttpError(413, tooLarge());
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of req.body ?? []) {
    n += chunk.length;
    if (n > limit) throw new HttpError(413, tooLarge());
    parts.push(chunk);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}

/** The client's name for a file, for messages only: its last path part, bounded, escaped. */
export function clientName(name: string, k: number): string {
  const base = name.split(/[/\\]/).pop()!.trim().slice(0, 100);
  return base ? escapeText(base) : `frame ${k + 1}`;
}

/** The extension kept on a stored upload (decoders sniff content; RAW readers may not). */
export function safeExtension(name: string): string {
  const m = /\.([A-Za-z0-9]{1,8})$/.exec(name);
  return m ? `.${m[1].toLowerCase()}` : "";
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const page = new Map<string, [Uint8Array<ArrayBuffer>, string]>();
  for (const [path, [file, type]] of Object.entries(PAGE_FILES)) {
    page.set(path, [await Deno.readFile(new URL(file, WEB)), type]);
  }
  const root = await Deno.makeTempDir({ prefix: "lfdiff-serve-" });
  const fusion = new Fusion();
  const queue = new JobQueue(fusion, { ttlMs: o.ttlMs, maxWaiting: o.maxWaiting });
  const controls = pageControls(o.models);
  /** Ends each open event stream. */
  const streams = new Set<() => void>();
  const loopback = o.hostname === "127.0.0.1" || o.hostname === "localhost" ||
    o.hostname === "::1";
  let port = o.port;

  /** Loopback servers answer only to loopback names, which DNS rebinding cannot borrow. */
  const checkOrigin = (req: Request) => {
    const host = req.headers.get("host") ?? "";
    if (loopback && !["127.0.0.1", "localhost", "[::1]"].some((h) => host === `${h}:${port}`)) {
      throw new HttpError(403, "this server answers only to its loopback address");
    }
    const origin = req.headers.get("origin");
    if (req.method !== "GET" && origin !== null && origin !== `http://${host}`) {
      throw new HttpError(403, "requests from other sites are refused");
    }
  };

  const options = () =>
    json(200, {
      controls,
      limits: {
        minFiles: o.minFiles,
        maxFiles: o.maxFiles,
        maxFileBytes: o.maxFileBytes,
        maxJobBytes: o.maxJobBytes,
        maxPixels: o.decode.maxPixels,
      },
    });

  const probe = async (req: Request, url: URL) => {
    const name = clientName(url.searchParams.get("name") ?? "", 0);
    const bytes = await readLimited(
      req,
      o.maxFileBytes,
      () => `${name} is over the server's limit of ${mb(o.maxFileBytes)} per file`,
    );
    try {
      const r = await fusion.probe(bytes, name, url.searchParams.has("thumbnail"), o.decode);
      const thumbnail = r.thumbnail
        ? `data:image/png;base64,${Buffer.from(r.thumbnail).toString("base64")}`
        : undefined;
      return json(200, { ...r, thumbnail });
    } catch (e) {
      throw new HttpError(422, (e as Error).message);
    }
  };

  const submit = async (req: Request) => {
    queue.checkRoom();
    const body = await readLimited(
      req,
      o.maxJobBytes + FORM_OVERHEAD,
      () => `the upload is over the server's limit of ${mb(o.maxJobBytes)} per job`,
    );
    let form: FormData;
    try {
      form = await new Response(body, {
        headers: { "content-type": req.headers.get("content-type") ?? "" },
      }).formData();
    } catch {
      throw new HttpError(400, "the upload is not a multipart form");
    }
    const frames = form.getAll("frame");
    if (frames.some((f) => typeof f === "string")) {
      throw new HttpError(400, "each frame must be a file");
    }
    const files = frames as File[];
    if (files.length < o.minFiles || files.length > o.maxFiles) {
      throw new HttpError(
        400,
        `bracket: needs ${o.minFiles} to ${o.maxFiles} frames, got ${files.length}`,
      );
    }
    let total = 0;
    for (const f of form.values()) {
      if (typeof f === "string") continue;
      if (f.size > o.maxFileBytes) {
        throw new HttpError(
          413,
          `${clientName(f.name, 0)} is ${mb(f.size)}, over the server's limit of ${
            mb(o.maxFileBytes)
          } per file`,
        );
      }
      total += f.size;
    }
    if (total > o.maxJobBytes) {
      throw new HttpError(
        413,
        `the bracket is ${mb(total)}, over the server's limit of ${mb(o.maxJobBytes)} per job`,
      );
    }
    const evText = form.get("evs");
    if (typeof evText === "string" && evText.length > 1000) {
      throw new HttpError(400, "the exposure values are too long");
    }
    const dir = await Deno.makeTempDir({ dir: root, prefix: "job-" });
    try {
      await Deno.mkdir(`${dir}/in`);
      const labels: Record<string, string> = {};
      const paths: string[] = [];
      for (const [k, f] of files.entries()) {
        const path = `${dir}/in/frame-${k + 1}${safeExtension(f.name)}`;
        await Deno.writeFile(path, new Uint8Array(await f.arrayBuffer()));
        labels[path] = clientName(f.name, k);
        paths.push(path);
      }
      const store = async (flag: string, f: File) => {
        const path = `${dir}/in/option-${flag}${safeExtension(f.name)}`;
        await Deno.writeFile(path, new Uint8Array(await f.arrayBuffer()));
        labels[path] = clientName(f.name, 0);
        return path;
      };
      let chosen;
      try {
        chosen = await jobValues(form, controls, o.models, store, ["frame", "evs"]);
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
      const job = queue.submit({
        dir,
        files: paths,
        labels,
        evs: typeof evText === "string" && evText.trim()
          ? evText.split(",").map(Number)
          : undefined,
        values: chosen.values,
        model: chosen.model,
        device: o.device,
        decode: o.decode,
      });
      return json(202, { id: job.id });
    } catch (e) {
      await removeDir(dir);
      throw e;
    }
  };

  const events = (job: Job) => {
    const enc = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        const ping = setInterval(() => c.enqueue(enc.encode(": ping\n\n")), 15_000);
        let unsubscribe = () => {};
        let ended = false;
        stop = () => {
          clearInterval(ping);
          unsubscribe();
          streams.delete(end);
        };
        const end = () => {
          ended = true;
          stop();
          try {
            c.close();
          } catch { /* the client has gone */ }
        };
        streams.add(end);
        unsubscribe = queue.subscribe(job, (e: JobEvent) => {
          if (ended) return;
          c.enqueue(enc.encode(`data: ${JSON.stringify(e)}\n\n`));
          if (e.type === "done" || e.type === "failed" || e.type === "cancelled") {
            ended = true;
            queueMicrotask(end);
          }
        });
      },
      cancel() {
        stop();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
    });
  };

  const resultFile = async (job: Job, name: string, download: boolean) => {
    const file = RESULT_FILES[name];
    if (!file) throw new HttpError(404, "no such result file");
    if (job.state !== "done" || job.last.type !== "done") {
      throw new HttpError(409, "the job has no results");
    }
    const r = job.last.result;
    if (name === "result.response.json" && !r.responseSaved) {
      throw new HttpError(404, "no response was estimated for this bracket");
    }
    const stem = r.frames[1].name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]+/g, "_");
    const headers: Record<string, string> = {
      "content-type": file.type,
      "cache-control": "no-store",
    };
    if (download) {
      headers["content-disposition"] = `attachment; filename="${stem || "result"}${file.suffix}"`;
    }
    return new Response(await Deno.readFile(`${job.input.dir}/out/${name}`), { headers });
  };

  const route = async (req: Request): Promise<Response> => {
    checkOrigin(req);
    const url = new URL(req.url);
    const p = url.pathname;
    if (req.method === "GET" && page.has(p)) {
      const [bytes, type] = page.get(p)!;
      return new Response(bytes, { headers: { "content-type": type, ...SECURITY_HEADERS } });
    }
    if (p === "/api/options" && req.method === "GET") return options();
    if (p === "/api/probe" && req.method === "POST") return await probe(req, url);
    if (p === "/api/jobs" && req.method === "POST") return await submit(req);
    const m = /^\/api\/jobs\/([^/]+)(?:\/([^/]+))?$/.exec(p);
    if (!m) throw new HttpError(404, "not found");
    const job = JOB_ID.test(m[1]) ? queue.get(m[1]) : undefined;
    if (!job) throw new HttpError(404, "no such job (its results may have expired)");
    if (!m[2] && req.method === "GET") {
      return json(200, { id: job.id, state: job.state, last: job.last });
    }
    if (!m[2] && req.method === "DELETE") {
      queue.cancel(job);
      return json(200, { id: job.id, state: job.state });
    }
    if (m[2] === "events" && req.method === "GET") return events(job);
    if (m[2] && req.method === "GET") {
      return await resultFile(job, m[2], url.searchParams.has("download"));
    }
    throw new HttpError(405, "method not allowed");
  };

  const handle = async (req: Request): Promise<Response> => {
    try {
      return await route(req);
    } catch (e) {
      if (e instanceof HttpError) return json(e.status, { error: e.message });
      if (e instanceof QueueFullError) return json(503, { error: e.message });
      console.error(`serve: ${(e as Error).message}`);
      return json(500, { error: (e as Error).message });
    }
  };

  const notes: string[] = [];
  let server: Deno.HttpServer;
  try {
    for (const m of o.models) notes.push(...await fusion.check(m, o.device));
    server = Deno.serve({ hostname: o.hostname, port: o.port, onListen: () => {} }, handle);
  } catch (e) {
    fusion.close();
    await removeDir(root);
    throw e;
  }
  port = (server.addr as Deno.NetAddr).port;
  const shown = o.hostname.includes(":") ? `[${o.hostname}]` : o.hostname;
  return {
    url: `http://${shown}:${port}/`,
    root,
    queue,
    notes,
    async close() {
      const stopping = queue.close();
      // A fusion that does not reach its next progress message soon is ended with its worker.
      const t = setTimeout(() => fusion.close(), 10_000);
      await stopping;
      clearTimeout(t);
      for (const end of streams) end();
      await server.shutdown();
      fusion.close();
      await removeDir(root);
    },
  };
}
