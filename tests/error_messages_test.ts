// Untrusted bytes in error messages: names read from a file (EXR attributes and channels, PNG
// chunk types, Radiance FORMAT values) and the file's own name reach the user's terminal, so
// every decoder's message is one line of printable text with the rest escaped.

import { decodeImage } from "@lfdiff/io/codecs.ts";
import { escapeText } from "@lfdiff/io/files.ts";
import { ImageError } from "@lfdiff/io/image.ts";
import { PNG_SIGNATURE } from "@lfdiff/io/png.ts";
import { assert, assertRejectsOneLine, strictEqual } from "./assert.ts";

const ascii = (t: string) => [...t].map((c) => c.charCodeAt(0));
const le32 = (v: number) => [v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255];
// A newline, an escape sequence that would turn the terminal red, DEL and a C1 control.
const HOSTILE = "ev\nil\x1b[31m\x7f\x81";
const ESCAPED = "ev\\x0ail\\x1b[31m\\x7f\\x81";

/** Printable, one line, no bidi controls: what a terminal shows as written. */
function assertPrintable(msg: string): void {
  assert(!/[\p{C}\p{Zl}\p{Zp}]/u.test(msg), JSON.stringify(msg));
}

Deno.test("escapeText: controls, bidi overrides, separators and lone surrogates escaped", () => {
  strictEqual(escapeText(HOSTILE), ESCAPED);
  strictEqual(escapeText("a\u202eb\u2066c\u2028d\ud800"), "a\\u202eb\\u2066c\\u2028d\\ud800");
  strictEqual(escapeText("tab\there \u{e0001}"), "tab\\x09here \\u{e0001}");
  // Printable text, accents and symbols included, is kept, and escaping twice changes nothing.
  strictEqual(escapeText("café 2×3 → ok \\x0a"), "café 2×3 → ok \\x0a");
});

const CASES: [string, number[], RegExp][] = [
  [
    "an EXR attribute name",
    [...le32(20000630), ...le32(2), ...ascii(HOSTILE), 0, ...ascii("int"), 0, ...le32(1000)],
    /attribute ev\\x0ail\\x1b\[31m\\x7f\\x81 at byte/,
  ],
  [
    "an EXR channel name",
    [
      ...le32(20000630),
      ...le32(2),
      ...ascii("channels\0chlist\0"),
      ...le32(HOSTILE.length + 18),
      ...ascii(HOSTILE),
      0,
      ...le32(7), // unknown pixel type
      ...new Array(12).fill(1),
      0,
    ],
    /channel ev\\x0ail\\x1b\[31m\\x7f\\x81 has unknown pixel type 7/,
  ],
  [
    "a PNG chunk type",
    [
      ...PNG_SIGNATURE,
      0,
      0,
      0,
      0,
      0x0a,
      0x1b,
      0x9b,
      0x7f,
      0,
      0,
      0,
      0,
    ],
    /\\x0a\\x1b\\x9b\\x7f chunk fails its CRC check/,
  ],
  [
    "a Radiance FORMAT value",
    ascii("#?RADIANCE\nFORMAT=\x1b]0;owned\x07\u00ad\n\n-Y 1 +X 1\n\0\0\0\0"),
    /unsupported pixel format \\x1b]0;owned\\x07\\xad /,
  ],
];

for (const [what, bytes, re] of CASES) {
  Deno.test(`error messages: ${what} is escaped`, async () => {
    const err = await assertRejectsOneLine(
      decodeImage(Uint8Array.from(bytes), "x"),
      ImageError,
      re,
    );
    assertPrintable(err.message);
  });
}

Deno.test("error messages: a file name with a newline and a bidi override is escaped", async () => {
  const name = "shot\n\u202egpj.exe";
  const files: [string, number[]][] = [
    ["jpeg", [0xff, 0xd8, 0xff, 0xc0, 0, 17]],
    ["tiff", ascii("II*\0\x08\0\0\0")],
    ["png", [...PNG_SIGNATURE]],
    ["exr", le32(20000630)],
    ["hdr", ascii("#?RADIANCE\n")],
    ["unknown", ascii("text")],
  ];
  for (const [kind, bytes] of files) {
    const err = await assertRejectsOneLine(
      decodeImage(Uint8Array.from(bytes), `${name}.${kind}`),
      ImageError,
      /^shot\\x0a\\u202egpj\.exe\.\w+: /,
    );
    assertPrintable(err.message);
    strictEqual((err as ImageError).file, `${name}.${kind}`, "the raw name stays on the error");
  }
});
