// Renders the PNG app icons (192, 512, maskable 512) with no dependency: the
// icon is a few rounded rectangles (the same as public/icon.svg), rasterised
// here with 4×4 supersampling and written as PNG with node's zlib.
// The PNGs are committed; run `npm run icons` after changing the design.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pub = join(dirname(fileURLToPath(import.meta.url)), '..', 'public');

const hex = (h) => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];
// Shapes in a 64×64 design space: [x, y, w, h, radius, colour]
const normal = [
  [0, 0, 64, 64, 14, '#3451b2'],
  [12, 14, 11, 36, 3, '#ffffff'],
  [26.5, 14, 11, 24, 3, '#c7d2fe'],
  [41, 14, 11, 14, 3, '#a5b4fc'],
];
const maskable = [
  [0, 0, 64, 64, 0, '#3451b2'],
  [17, 19, 8.5, 26, 2.5, '#ffffff'],
  [27.75, 19, 8.5, 17.5, 2.5, '#c7d2fe'],
  [38.5, 19, 8.5, 10.5, 2.5, '#a5b4fc'],
];

function inside([x, y, w, h, r], px, py) {
  if (px < x || py < y || px > x + w || py > y + h) return false;
  const cx = Math.min(Math.max(px, x + r), x + w - r);
  const cy = Math.min(Math.max(py, y + r), y + h - r);
  return (px - cx) ** 2 + (py - cy) ** 2 <= r * r;
}

function render(shapes, size) {
  const ss = 4;
  const rgba = Buffer.alloc(size * size * 4);
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sj = 0; sj < ss; sj++) {
        for (let si = 0; si < ss; si++) {
          const px = ((i + (si + 0.5) / ss) * 64) / size;
          const py = ((j + (sj + 0.5) / ss) * 64) / size;
          let c = null;
          for (const s of shapes) if (inside(s, px, py)) c = hex(s[5]);
          if (c) {
            r += c[0];
            g += c[1];
            b += c[2];
            a += 1;
          }
        }
      }
      const o = (j * size + i) * 4;
      const n = ss * ss;
      if (a > 0) {
        rgba[o] = Math.round(r / a);
        rgba[o + 1] = Math.round(g / a);
        rgba[o + 2] = Math.round(b / a);
      }
      rgba[o + 3] = Math.round((255 * a) / n);
    }
  }
  return rgba;
}

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(rgba, size) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let j = 0; j < size; j++) {
    raw[j * (size * 4 + 1)] = 0;
    rgba.copy(raw, j * (size * 4 + 1) + 1, j * size * 4, (j + 1) * size * 4);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

for (const [shapes, size, name] of [
  [normal, 192, 'icon-192.png'],
  [normal, 512, 'icon-512.png'],
  [maskable, 512, 'icon-maskable-512.png'],
]) {
  writeFileSync(join(pub, name), png(render(shapes, size), size));
  console.log(`make-icons: public/${name}`);
}
