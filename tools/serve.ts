// `deno task serve`: a local page for fusing brackets (drop the frames, watch the fusion, look
// at the HDR at any exposure, save it), on the same code path as `infer`. `--help` lists the
// flags; tools/serve/ holds the server, web/ the page.

import { decodeOptions, fail, flags, run } from "./cli.ts";
import { MODEL_FLAGS } from "./model_flags.ts";
import { serverModels } from "./serve/options.ts";
import { startServer } from "./serve/server.ts";

const positive = (name: string, v: string, integer = true): number => {
  const n = Number(v);
  if (!(n > 0 && (!integer || Number.isInteger(n)))) {
    throw new Error(`--${name} must be a positive ${integer ? "integer" : "number"}, got ${v}`);
  }
  return n;
};

await run("serve", async () => {
  const { values } = flags("serve", {
    port: { type: "string", default: "8000", arg: "N", help: "port to listen on" },
    host: {
      type: "string",
      default: "127.0.0.1",
      arg: "ADDR",
      help: "address to listen on; anything but loopback lets other machines use the page",
    },
    weights: {
      ...MODEL_FLAGS.weights,
      help: "another model to offer beside the shipped one (.safetensors)",
    },
    config: MODEL_FLAGS.config,
    untrained: { ...MODEL_FLAGS.untrained, help: "offer only random weights of --config (tests)" },
    variant: MODEL_FLAGS.variant,
    device: MODEL_FLAGS.device,
    "max-pixels": MODEL_FLAGS["max-pixels"],
    "max-files": { type: "string", default: "9", arg: "N", help: "most frames in a bracket" },
    "max-file-mb": { type: "string", default: "100", arg: "MB", help: "largest file accepted" },
    "max-job-mb": { type: "string", default: "400", arg: "MB", help: "largest bracket accepted" },
    queue: { type: "string", default: "8", arg: "N", help: "most jobs waiting at once" },
    ttl: {
      type: "string",
      default: "60",
      arg: "MIN",
      help: "minutes a job's results (and uploads) are kept after it ends",
    },
  }, {
    usage: ["[--port N] [--host ADDR] [--weights FILE] [flags]"],
    about: "Serves a page on which to fuse a bracket: drop 2 to 9 frames (JPEG, TIFF, PNG), see\n" +
      "their exposures, choose infer's options, watch the fusion, look at the HDR at any\n" +
      "exposure and tone map, and download it as EXR, HDR or PNG. Jobs run one at a time\n" +
      "through infer's code path; uploads live in a temporary folder until the results\n" +
      "expire (--ttl). Ctrl-C stops it, removing every upload.",
    examples: ["", "--port 8080 --weights runs/mine/weights.safetensors", "--host 0.0.0.0"],
  });
  const say = (s: string) => console.error(`serve: ${s}`);
  const port = Number(values.port);
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) {
    fail("serve", `--port must be a port number, got ${values.port}`);
  }
  const maxFiles = positive("max-files", values["max-files"]);
  if (maxFiles < 2) fail("serve", "--max-files must be at least 2 (a bracket)");
  const models = await serverModels(values);
  const server = await startServer({
    hostname: values.host,
    port,
    models,
    device: values.device,
    decode: decodeOptions(values),
    minFiles: 2,
    maxFiles,
    maxFileBytes: positive("max-file-mb", values["max-file-mb"], false) * 1e6,
    maxJobBytes: positive("max-job-mb", values["max-job-mb"], false) * 1e6,
    maxWaiting: positive("queue", values.queue),
    ttlMs: positive("ttl", values.ttl, false) * 60_000,
  });
  for (const note of server.notes) say(note);
  if (!["127.0.0.1", "localhost", "::1"].includes(values.host)) {
    say(
      `WARNING: listening on ${values.host}, not loopback: anyone who can reach this machine ` +
        "can upload files and run jobs on it",
    );
  }
  say(`models: ${models.map((m) => m.label).join("; ")}`);
  console.log(`serve: open ${server.url} (Ctrl-C stops)`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping (cancelling jobs, removing uploads)`);
    await server.close();
    say("stopped");
    Deno.exit(0);
  };
  for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, () => stop(s));
});
