/*
 * Scale-out from C: a host asks for the tile grid (rastrum_layout_json), runs one window per row
 * of tiles (option "window"), joins them (rastrum_assemble, as a VRT and a GeoTIFF), and checks
 * with GDAL that both hold the bytes of the whole run. Bad arguments come back as statuses.
 *
 *   windows MODEL INPUT OUTDIR [KEY=VALUE ...]
 */
#include <rastrum.h>
#include <gdal.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int32_t status) {
    fprintf(stderr, "FAIL %s: %s: %s\n", what, rastrum_status_str(status), rastrum_last_error_message());
    return 1;
}

/* The unsigned number after "key": in a JSON text. */
static long json_number(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    return at ? strtol(at + strlen(pattern), NULL, 10) : -1;
}

/* 0 when every band of `a` and `b` has the same size, type and bytes. */
static int same_pixels(const char *a, const char *b) {
    GDALDatasetH da = GDALOpen(a, GA_ReadOnly), db = GDALOpen(b, GA_ReadOnly);
    int differ = !da || !db || GDALGetRasterCount(da) != GDALGetRasterCount(db) ||
                 GDALGetRasterXSize(da) != GDALGetRasterXSize(db) || GDALGetRasterYSize(da) != GDALGetRasterYSize(db);
    for (int i = 1; !differ && i <= GDALGetRasterCount(da); i++) {
        GDALRasterBandH ba = GDALGetRasterBand(da, i), bb = GDALGetRasterBand(db, i);
        GDALDataType t = GDALGetRasterDataType(ba);
        int w = GDALGetRasterXSize(da), h = GDALGetRasterYSize(da), bytes = GDALGetDataTypeSizeBytes(t);
        char *pa = malloc((size_t)w * h * bytes), *pb = malloc((size_t)w * h * bytes);
        differ = t != GDALGetRasterDataType(bb) ||
                 GDALRasterIO(ba, GF_Read, 0, 0, w, h, pa, w, h, t, 0, 0) != CE_None ||
                 GDALRasterIO(bb, GF_Read, 0, 0, w, h, pb, w, h, t, 0, 0) != CE_None ||
                 memcmp(pa, pb, (size_t)w * h * bytes) != 0;
        free(pa);
        free(pb);
    }
    if (da) GDALClose(da);
    if (db) GDALClose(db);
    return differ;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL INPUT OUTDIR [KEY=VALUE ...]\n", argv[0]);
        return 2;
    }
    GDALAllRegister();
    const char *input = argv[2], *outdir = argv[3];
    rastrum_model *model = NULL;
    rastrum_options *opts = NULL;
    int32_t s = rastrum_model_open(argv[1], NULL, 1, 0, &model);
    if (s != RASTRUM_OK) return fail("rastrum_model_open", s);
    if ((s = rastrum_options_new(&opts)) != RASTRUM_OK) return fail("rastrum_options_new", s);
    for (int i = 4; i < argc; i++) {
        char key[256];
        const char *eq = strchr(argv[i], '=');
        if (!eq || (size_t)(eq - argv[i]) >= sizeof key) return 2;
        memcpy(key, argv[i], eq - argv[i]);
        key[eq - argv[i]] = 0;
        if ((s = rastrum_options_set(opts, key, eq + 1)) != RASTRUM_OK) return fail(argv[i], s);
    }

    char whole[4096], parts[64][4096], vrt[4096], tif[4096], window[64];
    snprintf(whole, sizeof whole, "%s/windows_whole.tif", outdir);
    snprintf(vrt, sizeof vrt, "%s/windows_joined.vrt", outdir);
    snprintf(tif, sizeof tif, "%s/windows_joined.tif", outdir);
    if ((s = rastrum_run(model, input, whole, opts, NULL, NULL, NULL)) != RASTRUM_OK) return fail("whole run", s);

    char *layout = NULL;
    if ((s = rastrum_layout_json(model, input, opts, &layout)) != RASTRUM_OK) return fail("rastrum_layout_json", s);
    long cols = json_number(layout, "tile_columns"), rows = json_number(layout, "tile_rows");
    rastrum_string_free(layout);
    if (cols < 1 || rows < 2 || rows > 64) {
        fprintf(stderr, "FAIL: layout of %ld x %ld tiles\n", cols, rows);
        return 1;
    }

    const char *names[64];
    for (long r = 0; r < rows; r++) {
        rastrum_options *w = NULL;
        snprintf(window, sizeof window, "0,%ld,%ld,1", r, cols);
        snprintf(parts[r], sizeof parts[r], "%s/windows_row%ld.tif", outdir, r);
        if ((s = rastrum_options_clone(opts, &w)) != RASTRUM_OK) return fail("rastrum_options_clone", s);
        if ((s = rastrum_options_set(w, "window", window)) != RASTRUM_OK) return fail("window", s);
        s = rastrum_run(model, input, parts[r], w, NULL, NULL, NULL);
        rastrum_options_free(w);
        if (s != RASTRUM_OK) return fail("window run", s);
        names[r] = parts[r];
    }
    /* Rows in reverse order: the files say where they go. */
    const char *reversed[64];
    for (long r = 0; r < rows; r++) reversed[r] = names[rows - 1 - r];
    if ((s = rastrum_assemble(reversed, (size_t)rows, vrt, NULL)) != RASTRUM_OK) return fail("assemble VRT", s);
    if ((s = rastrum_assemble(names, (size_t)rows, tif, opts)) != RASTRUM_OK) return fail("assemble GeoTIFF", s);
    int failures = 0;
    if (same_pixels(vrt, whole)) fprintf(stderr, "FAIL: %s differs from %s\n", vrt, whole), failures++;
    if (same_pixels(tif, whole)) fprintf(stderr, "FAIL: %s differs from %s\n", tif, whole), failures++;

    /* Misuse: statuses, never a crash; a missing window is named. */
    char *json = NULL;
    if (rastrum_layout_json(NULL, input, opts, &json) != RASTRUM_INVALID_ARGUMENT ||
        rastrum_layout_json(model, NULL, opts, &json) != RASTRUM_INVALID_ARGUMENT ||
        rastrum_layout_json(model, input, opts, NULL) != RASTRUM_INVALID_ARGUMENT ||
        rastrum_assemble(NULL, 1, vrt, NULL) != RASTRUM_INVALID_ARGUMENT ||
        rastrum_assemble(names, 1, NULL, NULL) != RASTRUM_INVALID_ARGUMENT ||
        rastrum_assemble(names, 0, tif, NULL) != RASTRUM_INVALID_ARGUMENT) {
        fprintf(stderr, "FAIL: bad arguments were not refused\n");
        failures++;
    }
    if (rastrum_assemble(names, (size_t)rows - 1, tif, NULL) == RASTRUM_OK ||
        strstr(rastrum_last_error_message(), "missing") == NULL) {
        fprintf(stderr, "FAIL: an incomplete set was not refused: %s\n", rastrum_last_error_message());
        failures++;
    }
    rastrum_options_free(opts);
    rastrum_model_free(model);
    printf("windows: %ld rows of %ld tiles joined, %s\n", rows, cols, failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
