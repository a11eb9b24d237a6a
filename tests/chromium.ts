// Headless Chromium (Debian's `chromium`) driven through the DevTools protocol over Deno's
// own WebSocket, with no npm: for the tests of the page `deno task serve` serves.

/** Where Chromium is (LFDIFF_CHROMIUM, or the usual names), or why it cannot run here. */
export async function findChromium(): Promise<{ path: string } | { why: string }> {
  const names = [Deno.env.get("LFDIFF_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    .filter((n): n is string => !!n);
  for (const name of names) {
    try {
      const r = await new Deno.Command(name, {
        args: ["--version"],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (r.success) return { path: name };
    } catch { /* not on this machine */ }
  }
  return { why: `no Chromium found (${names.join(", ")}); Debian: apt-get install chromium` };
}

/** Chromium found and started once (a browser that cannot start here is a reason to skip). */
export async function usableChromium(): Promise<{ path: string } | { why: string }> {
  const found = await findChromium();
  if ("why" in found) return found;
  try {
    await (await BrowserPage.launch(found.path)).close();
    return found;
  } catch (e) {
    return { why: `Chromium (${found.path}) cannot start here: ${(e as Error).message}` };
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** One page of a headless browser: DevTools commands and events for that page's session. */
export class BrowserPage {
  #id = 0;
  readonly #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Set<(method: string, params: Json) => void>();
  #session = "";

  private constructor(
    private readonly child: Deno.ChildProcess,
    private readonly ws: WebSocket,
    private readonly profile: string,
    private readonly stderr: Promise<string>,
  ) {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.id !== undefined) {
        const p = this.#pending.get(m.id)!;
        this.#pending.delete(m.id);
        if (m.error) p.reject(new Error(`${m.error.message} (${m.error.code})`));
        else p.resolve(m.result);
      } else if (m.sessionId === this.#session || !m.sessionId) {
        for (const l of this.#listeners) l(m.method, m.params);
      }
    };
  }

  /**
   * Starts Chromium with the flags that work as root in a sandboxed container (no GPU, no
   * network of its own, a fresh profile) and opens a page of the given size.
   */
  static async launch(path: string, width = 1280, height = 900): Promise<BrowserPage> {
    const profile = await Deno.makeTempDir({ prefix: "lfdiff-chromium-" });
    const child = new Deno.Command(path, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        `--window-size=${width},${height}`,
        "about:blank",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Chromium names its DevTools socket on stderr; the rest is drained so it never blocks.
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("Chromium did not start in 20 s")), 20_000);
      (async () => {
        for (;;) {
          const { value, done } = await lines.read();
          if (done) break;
          seen += value;
          const m = /DevTools listening on (ws:\/\/\S+)/.exec(seen);
          if (m) {
            clearTimeout(timer);
            return resolve(m[1]);
          }
        }
        clearTimeout(timer);
        reject(new Error(`Chromium exited: ${seen.trim().split("\n").pop()}`));
      })();
    }).catch(async (e) => {
      try {
        child.kill("SIGKILL");
      } catch { /* it has exited */ }
      await child.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw e;
    });
    const stderr = (async () => {
      for (;;) {
        const { value, done } = await lines.read();
        if (done) return seen;
        seen = (seen + value).slice(-4000);
      }
    })();
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    const page = new BrowserPage(child, ws, profile, stderr);
    const { targetId } = await page.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await page.send("Target.attachToTarget", { targetId, flatten: true });
    page.#session = sessionId;
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    return page;
  }

  /** A DevTools command to the page (or, for Browser.* and Target.*, to the browser). */
  send(method: string, params: Json = {}): Promise<Json> {
    const id = ++this.#id;
    const browserWide = /^(Browser|Target)\./.test(method);
    this.ws.send(JSON.stringify({
      id,
      method,
      params,
      ...(this.#session && !browserWide ? { sessionId: this.#session } : {}),
    }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  /** The next event `method` whose params pass `accept`, within `ms`. */
  waitFor(method: string, accept: (p: Json) => boolean = () => true, ms = 30_000): Promise<Json> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(l);
        reject(new Error(`no ${method} within ${ms} ms`));
      }, ms);
      const l = (m: string, p: Json) => {
        if (m !== method || !accept(p)) return;
        clearTimeout(timer);
        this.#listeners.delete(l);
        resolve(p);
      };
      this.#listeners.add(l);
    });
  }

  /** Evaluates an expression in the page (awaiting a promise) and returns its value. */
  async eval(expression: string): Promise<Json> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    if (r.exceptionDetails) {
      throw new Error(
        `in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`,
      );
    }
    return r.result.value;
  }

  /** Polls `expression` until it is truthy; the last value otherwise, in the error. */
  async until(expression: string, ms = 30_000): Promise<Json> {
    const end = performance.now() + ms;
    let v: Json;
    while (performance.now() < end) {
      v = await this.eval(expression);
      if (v) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${expression} still ${JSON.stringify(v)} after ${ms} ms`);
  }

  async close(): Promise<void> {
    const closed = new Promise((r) => this.ws.onclose = r);
    this.ws.close();
    await closed;
    this.child.kill("SIGTERM");
    await this.child.status;
    await this.stderr;
    await Deno.remove(this.profile, { recursive: true }).catch(() => {});
  }
}
