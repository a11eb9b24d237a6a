// The page `deno task serve` serves, in a real browser (headless Chromium over the DevTools
// protocol): the sample bracket uploaded through the file input, the fusion watched to the
// end, the canvas brightening with the exposure slider, and the downloads decoded. With
// LFDIFF_SCREENSHOT=FILE it also saves a screenshot of the page (the README's docs/serve.png).

import { decodeImage, encodeImage } from "@lfdiff/io/codecs.ts";
import { DEFAULT_MAX_PIXELS, newImage } from "@lfdiff/io/image.ts";
import { previewImage } from "@lfdiff/imaging/tonemap.ts";
import { serverModels } from "../tools/serve/options.ts";
import { startServer } from "../tools/serve/server.ts";
import { assert, assertEquals } from "./assert.ts";
import { BrowserPage, usableChromium } from "./chromium.ts";

const chromium = await usableChromium();
if ("why" in chromium) console.error(`serve_browser_test: skipped, ${chromium.why}`);
const SAMPLE = new URL("../samples/bracket/", import.meta.url).pathname;

/** Mean of the canvas's RGB codes, 0–255. */
const CANVAS_MEAN = `(() => {
  const c = document.querySelector("#view");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
  return s / (d.length / 4 * 3);
})()`;

const setInput = (selector: string, value: string) =>
  `(() => { const e = document.querySelector(${JSON.stringify(selector)}); e.value = ${
    JSON.stringify(value)
  }; e.dispatchEvent(new Event("input")); })()`;

Deno.test({
  name: "the page in Chromium: upload the sample bracket, fuse it, tone map it, download it",
  ignore: "why" in chromium,
}, async () => {
  const server = await startServer({
    hostname: "127.0.0.1",
    port: 0,
    models: await serverModels({ config: "paper" }),
    device: "cpu",
    decode: { maxPixels: DEFAULT_MAX_PIXELS },
    minFiles: 2,
    maxFiles: 9,
    maxFileBytes: 1e8,
    maxJobBytes: 4e8,
    ttlMs: 600_000,
    maxWaiting: 8,
  });
  const downloads = await Deno.makeTempDir();
  const page = await BrowserPage.launch((chromium as { path: string }).path, 1100, 800);
  try {
    await page.send("Browser.setDownloadBehavior", {
      behavior: "allowAndName",
      downloadPath: downloads,
      eventsEnabled: true,
    });
    const loaded = page.waitFor("Page.loadEventFired");
    await page.send("Page.navigate", { url: server.url });
    await loaded;
    await page.until(`document.body.dataset.state === "idle"`);
    const { root } = await page.send("DOM.getDocument");
    const { nodeId } = await page.send("DOM.querySelector", {
      nodeId: root.nodeId,
      selector: "#files",
    });
    const files = ["ev-2.jpg", "ev0.jpg", "ev+2.jpg"].map((f) => SAMPLE + f);
    await page.send("DOM.setFileInputFiles", { nodeId, files });
    await page.until(`document.body.dataset.state === "ready"`);
    // The EVs the page read from EXIF (through the server's probe), from the first frame's.
    const shownEvs: [string, number][] = await page.eval(
      `[...document.querySelectorAll("#frames li")]
      .map((li) => [li.querySelector(".name").textContent, Number(li.querySelector(".ev").value)])`,
    );
    const ev = Object.fromEntries(shownEvs.map(([name, v]) => [name.replace(/^\d+\. /, ""), v]));
    assertEquals([ev["ev0.jpg"] - ev["ev-2.jpg"], ev["ev+2.jpg"] - ev["ev-2.jpg"]], [2, 4]);

    // Progress as the page shows it, every change of the status line.
    await page.eval(`window.seen = [];
      new MutationObserver(() => seen.push(document.querySelector("#status").textContent))
        .observe(document.querySelector("#status"), { childList: true, subtree: true });`);
    await page.eval(`document.querySelector("#start").click()`);
    const state = await page.until(
      `["done", "failed"].includes(document.body.dataset.state) && document.body.dataset.state`,
      60_000,
    );
    assertEquals(state, "done", await page.eval(`document.querySelector("#error").textContent`));
    const seen: string[] = await page.eval("seen");
    assert(seen.some((s) => /DDIM step \d+\/\d+/.test(s)), `progress shown: ${seen.join(" | ")}`);
    assert(seen.some((s) => /reconstruction block/.test(s)), seen.join(" | "));

    // The view: brighter with the slider, darker below zero, different under another curve.
    const m0 = await page.eval(CANVAS_MEAN);
    assert(m0 > 20 && m0 < 235, `a visible image, mean ${m0}`);
    await page.eval(setInput("#exposure", "2"));
    const up = await page.eval(CANVAS_MEAN);
    await page.eval(setInput("#exposure", "-2"));
    const down = await page.eval(CANVAS_MEAN);
    assert(up > m0 + 10 && down < m0 - 10, `means ${down} < ${m0} < ${up}`);
    await page.eval(setInput("#exposure", "0"));
    await page.eval(setInput("#tonemap", "mu-law"));
    const mu = await page.eval(CANVAS_MEAN);
    assert(Math.abs(mu - m0) > 1, `μ-law ${mu} vs Reinhard ${m0}`);
    await page.eval(setInput("#tonemap", "reinhard"));
    await page.eval(setInput("#compare", "40"));
    const compared = await page.eval(CANVAS_MEAN);
    assert(compared !== m0, "the reference frame shows left of the line");

    const shot = Deno.env.get("LFDIFF_SCREENSHOT");
    if (shot) {
      const { data } = await page.send("Page.captureScreenshot", {
        format: "png",
        captureBeyondViewport: true,
        clip: {
          x: 0,
          y: 0,
          width: 1100,
          height: await page.eval(`document.documentElement.scrollHeight`),
          scale: 0.8,
        },
      });
      await Deno.writeFile(shot, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
    }
    await page.eval(setInput("#compare", "0"));

    // Downloads, through the page's own links and button.
    const download = async (selector: string) => {
      const begin = page.waitFor("Browser.downloadWillBegin");
      await page.eval(`document.querySelector(${JSON.stringify(selector)}).click()`);
      const { guid, suggestedFilename } = await begin;
      await page.waitFor(
        "Browser.downloadProgress",
        (p) => p.guid === guid && p.state === "completed",
      );
      return { name: suggestedFilename, bytes: await Deno.readFile(`${downloads}/${guid}`) };
    };
    const hdrFile = await download("#download-hdr");
    assertEquals(hdrFile.name, "ev0-hdr.hdr");
    const hdr = await decodeImage(hdrFile.bytes, hdrFile.name);
    assertEquals([hdr.width, hdr.height, hdr.channels], [384, 256, 3]);
    const exr = await download("#download-exr");
    const exrImage = await decodeImage(exr.bytes, exr.name);
    assertEquals([exrImage.width, exrImage.height], [384, 256]);
    assert(exrImage.data.every(Number.isFinite));
    // The page's PNG at exposure 0 is infer's preview operator on the same (RGBE) pixels.
    const png = await download("#download-png");
    assertEquals(png.name, "ev0-reinhard.png");
    const shown = await decodeImage(png.bytes, png.name);
    const preview = previewImage(hdr);
    assertEquals([shown.width, shown.height], [384, 256]);
    let worst = 0;
    for (let i = 0; i < preview.data.length; i++) {
      const code = Math.round(Math.min(Math.max(preview.data[i], 0), 1) * 255);
      const got = shown.data[Math.floor(i / 3) * shown.channels + (i % 3)];
      worst = Math.max(worst, Math.abs(Math.round(got * 255) - code));
    }
    assert(worst <= 1, `the page's PNG is ${worst} codes from previewImage`);
    const jpeg = await download("#download-jpeg");
    assertEquals(jpeg.name, "ev0-reinhard.jpg");
    const jpegImage = await decodeImage(jpeg.bytes, jpeg.name);
    assertEquals([jpegImage.width, jpegImage.height], [384, 256]);

    // A failing job is one sentence on the page: here a frame of another size (a PNG with no
    // EXIF time, whose EV is typed in).
    const small = `${downloads}/small.png`;
    await Deno.writeFile(small, await encodeImage(newImage(32, 24, 3, 8), small));
    await page.eval(`while (document.querySelector("#frames .remove")) {
      document.querySelector("#frames .remove").click();
    }`);
    await page.send("DOM.setFileInputFiles", { nodeId, files: [files[0], small] });
    await page.until(`document.querySelectorAll("#frames li").length === 2 &&
      !document.querySelector("#frames").textContent.includes("reading")`);
    assertEquals(await page.eval(`document.body.dataset.state`), "done", "no EV yet: not ready");
    await page.eval(`(() => { const e = document.querySelectorAll("#frames .ev")[1];
      e.value = "2"; e.dispatchEvent(new Event("change")); })()`);
    await page.eval(`document.querySelector("#start").click()`);
    await page.until(`document.body.dataset.state === "failed"`);
    assertEquals(
      await page.eval(`document.querySelector("#error").textContent`),
      "small.png: is 32x24, ev-2.jpg is 384x256",
    );
  } finally {
    await page.close();
    await server.close();
    await Deno.remove(downloads, { recursive: true });
  }
});
