// Fixture helper for tests/make_image_fixtures.py (built and run only by that script):
// writes the OpenEXR files OpenCV cannot (luminance/chroma, display windows, DWA files with
// layers, alpha and other channels) with the OpenEXR library, and decodes any file with its
// RgbaInputFile as the reference.
//
//   exr_fixtures yc OUT.exr W H ALPHA COMPRESSION   luminance/chroma (RgbaOutputFile WRITE_YC[A])
//   exr_fixtures window OUT.exr                     RGB, data window inside a larger display window
//   exr_fixtures channels OUT.exr SRC.f32 W H COMPRESSION LAYOUT
//                                                   SRC: float32 RGBA, W×H; LAYOUT "layers": half
//                                                   R,G,B, A, diffuse.R/G/B, float Z, uint id;
//                                                   "y_plinear": one perceptually linear half Y
//   exr_fixtures unhuf IN.bin COUNT OUT.bin         OpenEXR's hufUncompress of a whole file into
//                                                   COUNT 16-bit values (little-endian)
//   exr_fixtures read IN.exr DISPLAY OUT.f32        RgbaInputFile's RGBA (first part) as float32;
//                                                   DISPLAY=1 composites into the display window
//   exr_fixtures yw                                 the Rec. 709 luminance weights (hex floats)
#include <ImfChannelList.h>
#include <ImfFrameBuffer.h>
#include <ImfHuf.h>
#include <ImfOutputFile.h>
#include <ImfRgbaFile.h>
#include <ImfRgbaYca.h>
#include <ImfHeader.h>
#include <ImfChromaticities.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace Imf;
using namespace Imath;

// A scene with colour edges, saturated patches and HDR range, so every step of the
// chroma reconstruction (including the saturation fix) is exercised.
static Rgba pixel(int x, int y, int w, int h) {
    float t = float(x + y) / float(w + h);
    float r = 0.02f * std::pow(3000.0f, t), g = 0.5f + 0.4f * std::sin(x / 3.0f) * std::cos(y / 4.0f);
    float b = ((x / 5 + y / 5) % 2) ? 8.0f : 0.05f;
    if (x > w / 2 && y < h / 3) { r = 4.0f; g = 0.01f; b = 0.0f; }
    if (x < w / 4 && y > h / 2) { r = g = b = 0.7f; }
    return Rgba(r, g, b, float(x) / float(w - 1));
}

int main(int argc, char** argv) {
    if (argc >= 7 && !strcmp(argv[1], "yc")) {
        int w = atoi(argv[3]), h = atoi(argv[4]);
        bool alpha = atoi(argv[5]) != 0;
        Header hdr(w, h);
        hdr.compression() = Compression(atoi(argv[6]));
        std::vector<Rgba> px(w * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) px[y * w + x] = pixel(x, y, w, h);
        RgbaOutputFile out(argv[2], hdr, alpha ? WRITE_YCA : WRITE_YC);
        out.setFrameBuffer(px.data(), 1, w);
        out.writePixels(h);
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "window")) {
        Box2i display(V2i(0, 0), V2i(39, 29)), data(V2i(-3, 4), V2i(30, 25));
        Header hdr(display, data);
        hdr.compression() = ZIP_COMPRESSION;
        int w = data.max.x - data.min.x + 1, h = data.max.y - data.min.y + 1;
        std::vector<Rgba> px(w * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) px[y * w + x] = pixel(x, y, w, h);
        RgbaOutputFile out(argv[2], hdr, WRITE_RGB);
        out.setFrameBuffer(px.data() - data.min.x - data.min.y * w, 1, w);
        out.writePixels(h);
        return 0;
    }
    if (argc >= 8 && !strcmp(argv[1], "channels")) {
        int w = atoi(argv[4]), h = atoi(argv[5]);
        std::string layout = argv[7];
        std::vector<float> src(size_t(w) * h * 4);
        FILE* f = fopen(argv[3], "rb");
        if (!f || fread(src.data(), sizeof(float), src.size(), f) != src.size()) return 1;
        fclose(f);
        Header hdr(w, h);
        hdr.compression() = Compression(atoi(argv[6]));
        FrameBuffer fb;
        // Planes that outlive the write: halfs for the colour and alpha channels, floats, uints.
        std::vector<std::vector<half>> halves;
        std::vector<float> z(size_t(w) * h);
        std::vector<unsigned> id(size_t(w) * h);
        auto addHalf = [&](const char* name, bool pLinear, auto value) {
            halves.emplace_back(size_t(w) * h);
            for (int i = 0; i < w * h; i++) halves.back()[i] = half(value(i));
            hdr.channels().insert(name, Channel(HALF, 1, 1, pLinear));
        };
        if (layout == "layers") {
            const char* rgba[] = {"R", "G", "B", "A"};
            for (int c = 0; c < 4; c++)
                addHalf(rgba[c], false, [&](int i) { return src[4 * i + c]; });
            const char* diffuse[] = {"diffuse.R", "diffuse.G", "diffuse.B"};
            for (int c = 0; c < 3; c++)  // the layer: the image upside down, a quarter as bright
                addHalf(diffuse[c], false, [&](int i) {
                    int x = i % w, y = i / w;
                    return 0.25f * src[4 * ((h - 1 - y) * w + x) + c];
                });
            for (int i = 0; i < w * h; i++) {
                z[i] = 1.0f + 0.37f * float(i % w) + 1e-3f * float(i / w);
                id[i] = unsigned(i % w / 5 + 100 * (i / w / 7));
            }
            hdr.channels().insert("Z", Channel(FLOAT));
            hdr.channels().insert("id", Channel(UINT));
            fb.insert("Z", Slice(FLOAT, (char*) z.data(), sizeof(float), sizeof(float) * w));
            fb.insert("id", Slice(UINT, (char*) id.data(), sizeof(unsigned), sizeof(unsigned) * w));
            const char* names[] = {"R", "G", "B", "A", "diffuse.R", "diffuse.G", "diffuse.B"};
            for (int c = 0; c < 7; c++)
                fb.insert(names[c],
                          Slice(HALF, (char*) halves[c].data(), sizeof(half), sizeof(half) * w));
        } else if (layout == "y_plinear") {
            addHalf("Y", true, [&](int i) {
                return 0.2126f * src[4 * i] + 0.7152f * src[4 * i + 1] + 0.0722f * src[4 * i + 2];
            });
            fb.insert("Y", Slice(HALF, (char*) halves[0].data(), sizeof(half), sizeof(half) * w));
        } else {
            fprintf(stderr, "unknown layout %s\n", layout.c_str());
            return 2;
        }
        OutputFile out(argv[2], hdr);
        out.setFrameBuffer(fb);
        out.writePixels(h);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "unhuf")) {
        FILE* f = fopen(argv[2], "rb");
        if (!f) return 1;
        std::vector<char> in;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) in.insert(in.end(), buf, buf + n);
        fclose(f);
        std::vector<unsigned short> out(atoi(argv[3]));
        hufUncompress(in.data(), int(in.size()), out.data(), int(out.size()));
        f = fopen(argv[4], "wb");
        fwrite(out.data(), sizeof(unsigned short), out.size(), f);  // little-endian hosts only
        fclose(f);
        return 0;
    }
    if (argc >= 5 && !strcmp(argv[1], "read")) {
        RgbaInputFile in(argv[2]);
        bool display = atoi(argv[3]) != 0;
        Box2i dw = in.dataWindow(), win = display ? in.displayWindow() : dw;
        int w = win.max.x - win.min.x + 1, h = win.max.y - win.min.y + 1;
        int dwW = dw.max.x - dw.min.x + 1, dwH = dw.max.y - dw.min.y + 1;
        std::vector<Rgba> px(dwW * dwH);
        in.setFrameBuffer(px.data() - dw.min.x - dw.min.y * dwW, 1, dwW);
        in.readPixels(dw.min.y, dw.max.y);
        std::vector<float> out(w * h * 4, 0.0f);
        for (int y = win.min.y; y <= win.max.y; y++)
            for (int x = win.min.x; x <= win.max.x; x++) {
                if (x < dw.min.x || x > dw.max.x || y < dw.min.y || y > dw.max.y) continue;
                const Rgba& p = px[(y - dw.min.y) * dwW + x - dw.min.x];
                float* o = &out[((y - win.min.y) * w + x - win.min.x) * 4];
                o[0] = p.r; o[1] = p.g; o[2] = p.b; o[3] = p.a;
            }
        FILE* f = fopen(argv[4], "wb");
        fwrite(out.data(), sizeof(float), out.size(), f);
        fclose(f);
        printf("%d %d\n", w, h);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "yw")) {
        V3f yw = RgbaYca::computeYw(Chromaticities());
        printf("%a %a %a\n", yw.x, yw.y, yw.z);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of exr_fixtures.cpp\n");
    return 2;
}
