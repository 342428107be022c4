/*
 * A C++ host with its own inference: it plans the tiles of a real raster without a model
 * (rastrum_plan_open), reads each tile (rastrum_plan_read_tile), computes a pointwise function
 * itself (no ONNX), and stitches the outputs in shuffled order (rastrum_stitcher_*), to a
 * GeoTIFF and through the rows callback. Each result must hold the bytes `rastrum run` wrote
 * with the equivalent ONNX model (pointwise3.onnx), compared with GDAL.
 *
 *   pieces INPUT OUTDIR REFERENCE_DIR
 *
 * REFERENCE_DIR holds rastrum run's outputs: blend.tif, crop.tif (regression, 2 bands) and
 * classes.tif + classes_probabilities.tif (segmentation with probabilities, blend).
 */
#include <rastrum.h>
#include <gdal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

int failures = 0;

void check(bool ok, const std::string &what) {
    if (!ok) {
        std::fprintf(stderr, "FAIL %s (last error: %s)\n", what.c_str(), rastrum_last_error_message());
        failures++;
    }
}

bool ok(int32_t status, const std::string &what) {
    if (status != RASTRUM_OK) {
        std::fprintf(stderr, "FAIL %s: %s: %s\n", what.c_str(), rastrum_status_str(status),
                     rastrum_last_error_message());
        failures++;
        return false;
    }
    return true;
}

/* The host's model: y0 = a * 0.25 - b, y1 = (c + 1) / (a + 2), per pixel, in float. */
void pointwise(const std::vector<float> &x, size_t pixels, std::vector<float> &y) {
    const float *a = x.data(), *b = a + pixels, *c = b + pixels;
    for (size_t p = 0; p < pixels; p++) {
        float a4 = a[p] * 0.25f;
        y[p] = a4 - b[p];
        float c1 = c[p] + 1.0f, a2 = a[p] + 2.0f;
        y[pixels + p] = c1 / a2;
    }
}

/* A band of a GDAL raster as bytes of its own type. */
struct Band {
    GDALDataType type = GDT_Unknown;
    int width = 0, height = 0;
    double nodata = 0;
    std::vector<unsigned char> bytes;
};

std::vector<Band> read_bands(const std::string &path, double gt[6]) {
    std::vector<Band> bands;
    GDALDatasetH ds = GDALOpen(path.c_str(), GA_ReadOnly);
    if (!ds) return bands;
    GDALGetGeoTransform(ds, gt);
    for (int i = 1; i <= GDALGetRasterCount(ds); i++) {
        GDALRasterBandH b = GDALGetRasterBand(ds, i);
        Band band;
        band.type = GDALGetRasterDataType(b);
        band.width = GDALGetRasterXSize(ds);
        band.height = GDALGetRasterYSize(ds);
        band.nodata = GDALGetRasterNoDataValue(b, nullptr);
        band.bytes.resize((size_t)band.width * band.height * GDALGetDataTypeSizeBytes(band.type));
        if (GDALRasterIO(b, GF_Read, 0, 0, band.width, band.height, band.bytes.data(), band.width, band.height,
                         band.type, 0, 0) != CE_None)
            band.bytes.clear();
        bands.push_back(std::move(band));
    }
    GDALClose(ds);
    return bands;
}

/* The two files hold the same bands (type, size, nodata, bytes) and geotransform. */
void same_raster(const std::string &got, const std::string &want, const std::string &what) {
    double g1[6] = {0}, g2[6] = {0};
    auto a = read_bands(got, g1), b = read_bands(want, g2);
    check(!a.empty() && a.size() == b.size(), what + ": band count");
    check(std::memcmp(g1, g2, sizeof g1) == 0, what + ": geotransform");
    for (size_t i = 0; i < std::min(a.size(), b.size()); i++) {
        std::string band = what + " band " + std::to_string(i + 1);
        check(a[i].type == b[i].type && a[i].width == b[i].width && a[i].height == b[i].height, band + ": shape");
        check(a[i].nodata == b[i].nodata, band + ": nodata");
        check(!a[i].bytes.empty() && a[i].bytes == b[i].bytes, band + ": bytes");
    }
}

rastrum_options *options(const std::vector<std::pair<const char *, const char *>> &kv) {
    rastrum_options *o = nullptr;
    if (!ok(rastrum_options_new(&o), "rastrum_options_new")) return nullptr;
    for (auto &p : kv) ok(rastrum_options_set(o, p.first, p.second), std::string("set ") + p.first);
    return o;
}

std::vector<uint64_t> shuffled(uint64_t n, unsigned seed) {
    std::vector<uint64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::mt19937 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    return order;
}

/* Reads, computes and adds every tile of `plan` to `st` in `order`; returns the most tiles held. */
uint64_t feed(rastrum_plan *plan, rastrum_stitcher *st, const std::vector<uint64_t> &order) {
    rastrum_plan_info info;
    if (!ok(rastrum_plan_get_info(plan, &info), "rastrum_plan_get_info")) return 0;
    size_t pixels = info.tile_size * info.tile_size;
    std::vector<float> x(info.input_bands * pixels), y(info.output_values);
    std::vector<uint8_t> valid(pixels);
    uint64_t most_held = 0;
    for (uint64_t i : order) {
        int32_t any = 0;
        if (!ok(rastrum_plan_read_tile(plan, i, x.data(), x.size(), valid.data(), valid.size(), nullptr, 0, &any),
                "rastrum_plan_read_tile " + std::to_string(i)))
            return most_held;
        int32_t s;
        if (any) {
            pointwise(x, pixels, y);
            s = rastrum_stitcher_add(st, i, y.data(), y.size(), valid.data(), valid.size(), nullptr, 0);
        } else {
            s = rastrum_stitcher_add(st, i, nullptr, 0, valid.data(), valid.size(), nullptr, 0);
        }
        if (!ok(s, "rastrum_stitcher_add " + std::to_string(i))) return most_held;
        size_t held = 0;
        ok(rastrum_stitcher_progress(st, nullptr, &held), "rastrum_stitcher_progress");
        most_held = std::max<uint64_t>(most_held, held);
    }
    return most_held;
}

/* Rows handed back by the stitcher, kept whole per raster (the test's rasters are small). */
struct Collected {
    uint64_t width = 0, height = 0, next_row[2] = {0, 0};
    std::map<int, std::vector<std::vector<unsigned char>>> bands;  // raster -> band -> bytes
    bool in_order = true;
};

/* Non-zero: go on; 0 stops the stitcher. */
int collect(const rastrum_rows *rows, void *user) {
    auto *c = static_cast<Collected *>(user);
    if (rows->raster < 0 || rows->raster > 1 || rows->width != c->width) return 0;
    if (rows->y != c->next_row[rows->raster]) c->in_order = false;
    c->next_row[rows->raster] = rows->y + rows->rows;
    size_t size = rows->data_type == RASTRUM_TYPE_BYTE ? 1 : 4;
    auto &bands = c->bands[rows->raster];
    bands.resize(rows->bands);
    size_t band_bytes = rows->rows * rows->width * size;
    const unsigned char *data = static_cast<const unsigned char *>(rows->data);
    for (uint64_t b = 0; b < rows->bands; b++) {
        auto &dst = bands[b];
        if (dst.empty()) dst.resize(c->height * rows->width * size);
        std::memcpy(dst.data() + rows->y * rows->width * size, data + b * band_bytes, band_bytes);
    }
    return 1;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s INPUT OUTDIR REFERENCE_DIR\n", argv[0]);
        return 2;
    }
    GDALAllRegister();
    const std::string input = argv[1], outdir = argv[2], refs = argv[3];

    // Regression, both stitch modes, to a GeoTIFF, tiles in shuffled order.
    for (const char *mode : {"blend", "crop"}) {
        rastrum_options *o = options({{"tile-size", "128"}, {"overlap", "16"}, {"stitch", mode},
                                      {"task", "regression"}, {"output-channels", "2"}});
        rastrum_plan *plan = nullptr;
        if (!ok(rastrum_plan_open(input.c_str(), nullptr, o, &plan), std::string("rastrum_plan_open ") + mode)) continue;
        rastrum_plan_info info;
        ok(rastrum_plan_get_info(plan, &info), "rastrum_plan_get_info");
        check(info.tile_count == info.tile_columns * info.tile_rows && info.tile_count > 1, "tile count");
        check(info.raster_width % (128 - 16) != 0 && info.raster_height % (128 - 16) != 0,
              "the raster is not a multiple of the stride");
        check(info.data_type == RASTRUM_TYPE_FLOAT32 && info.output_bands == 2 && info.output_values == 2 * 128 * 128,
              "output shape");
        // The tiles' windows: padding and read window add up to the tile; the last column ends
        // at the raster's edge; crop regions partition the output.
        uint64_t covered = 0;
        for (uint64_t i = 0; i < info.tile_count; i++) {
            rastrum_tile t;
            ok(rastrum_plan_get_tile(plan, i, &t), "rastrum_plan_get_tile");
            check(t.index == i && t.row * info.tile_columns + t.column == i, "tile order");
            check(t.pad_left + t.read_width + t.pad_right == t.size && t.pad_top + t.read_height + t.pad_bottom == t.size,
                  "tile padding");
            if (t.column + 1 == info.tile_columns) check(t.read_x + t.read_width == info.raster_width, "last column");
            covered += t.out_width * t.out_height;
        }
        if (std::strcmp(mode, "crop") == 0) check(covered == info.width * info.height, "crop regions partition the output");
        rastrum_tile past;
        check(rastrum_plan_get_tile(plan, info.tile_count, &past) == RASTRUM_INVALID_ARGUMENT, "a tile past the plan");

        std::string out = outdir + "/pieces_" + mode + ".tif";
        rastrum_stitcher *st = nullptr;
        if (ok(rastrum_stitcher_new(plan, out.c_str(), &st), "rastrum_stitcher_new")) {
            uint64_t held = feed(plan, st, shuffled(info.tile_count, 7));
            std::printf("%s: %llu tiles, at most %llu held in shuffled order\n", mode,
                        (unsigned long long)info.tile_count, (unsigned long long)held);
            ok(rastrum_stitcher_finish(st), "rastrum_stitcher_finish");
            rastrum_stitcher_free(st);
            same_raster(out, refs + "/" + mode + ".tif", std::string("regression ") + mode);
        }
        // In plan order nothing is held: memory is the stitching window's.
        rastrum_stitcher *in_order = nullptr;
        std::string out2 = outdir + "/pieces_" + mode + "_in_order.tif";
        if (ok(rastrum_stitcher_new(plan, out2.c_str(), &in_order), "rastrum_stitcher_new")) {
            std::vector<uint64_t> order(info.tile_count);
            std::iota(order.begin(), order.end(), 0);
            check(feed(plan, in_order, order) == 0, "plan order holds no tile");
            ok(rastrum_stitcher_finish(in_order), "rastrum_stitcher_finish");
            rastrum_stitcher_free(in_order);
            same_raster(out2, refs + "/" + mode + ".tif", std::string("regression in order ") + mode);
        }
        rastrum_plan_free(plan);
        rastrum_options_free(o);
    }

    // Segmentation with probabilities (softmax applied by the stitcher), rows to the callback.
    rastrum_options *o = options({{"tile-size", "128"}, {"overlap", "16"}, {"task", "segmentation"},
                                  {"output-channels", "2"}, {"probabilities", "true"}});
    rastrum_plan *plan = nullptr;
    if (ok(rastrum_plan_open(input.c_str(), nullptr, o, &plan), "rastrum_plan_open segmentation")) {
        rastrum_plan_info info;
        ok(rastrum_plan_get_info(plan, &info), "rastrum_plan_get_info");
        check(info.data_type == RASTRUM_TYPE_BYTE && info.output_bands == 1, "class output");
        Collected got;
        got.width = info.width;
        got.height = info.height;
        rastrum_stitcher *st = nullptr;
        if (ok(rastrum_stitcher_new_rows(plan, collect, &got, &st), "rastrum_stitcher_new_rows")) {
            auto order = shuffled(info.tile_count, 11);
            // Everything but the first tile: rows cannot come yet, and finishing is refused.
            std::vector<uint64_t> rest(order.begin(), order.end());
            rest.erase(std::find(rest.begin(), rest.end(), 0));
            feed(plan, st, rest);
            check(got.bands.empty(), "no rows before the first tile");
            check(rastrum_stitcher_finish(st) == RASTRUM_INVALID_ARGUMENT, "finish refused while tile 0 is missing");
            feed(plan, st, {0});
            check(rastrum_stitcher_add(st, 0, nullptr, 0, nullptr, 0, nullptr, 0) == RASTRUM_INVALID_ARGUMENT,
                  "a tile added twice");
            ok(rastrum_stitcher_finish(st), "rastrum_stitcher_finish rows");
            rastrum_stitcher_free(st);
        }
        check(got.in_order && got.next_row[0] == info.height && got.next_row[1] == info.height,
              "rows come top to bottom, each once");
        double gt[6];
        auto classes = read_bands(refs + "/classes.tif", gt);
        auto probs = read_bands(refs + "/classes_probabilities.tif", gt);
        check(got.bands[0].size() == 1 && classes.size() == 1 && got.bands[0][0] == classes[0].bytes,
              "class rows equal rastrum run's class raster");
        check(got.bands[1].size() == 2 && probs.size() == 2, "probability rows");
        for (size_t b = 0; b < std::min(got.bands[1].size(), probs.size()); b++)
            check(got.bands[1][b] == probs[b].bytes, "probability band " + std::to_string(b + 1));

        // And to files: the class raster (names, nodata) and the probabilities beside it.
        std::string out = outdir + "/pieces_classes.tif";
        if (ok(rastrum_stitcher_new(plan, out.c_str(), &st), "rastrum_stitcher_new classes")) {
            feed(plan, st, shuffled(info.tile_count, 13));
            ok(rastrum_stitcher_finish(st), "rastrum_stitcher_finish classes");
            rastrum_stitcher_free(st);
            same_raster(out, refs + "/classes.tif", "classes");
            same_raster(outdir + "/pieces_classes_probabilities.tif", refs + "/classes_probabilities.tif",
                        "probabilities");
        }
        // A stitcher freed unfinished leaves no file.
        std::string never = outdir + "/pieces_never.tif";
        if (ok(rastrum_stitcher_new(plan, never.c_str(), &st), "rastrum_stitcher_new unfinished")) {
            feed(plan, st, {0, 1});
            rastrum_stitcher_free(st);
            std::FILE *f = std::fopen(never.c_str(), "rb");
            check(f == nullptr, "an unfinished stitcher leaves no file");
            if (f) std::fclose(f);
        }
        rastrum_plan_free(plan);
    }
    rastrum_options_free(o);

    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("pieces: the host's tiles stitch to rastrum run's bytes\n");
    return 0;
}
