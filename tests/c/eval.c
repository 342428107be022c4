/*
 * rastrum_eval from C: hand-made rasters written here through GDAL's C API, scored by the
 * library, and the JSON report's numbers checked against values worked out by hand.
 *
 *   eval_c OUT_DIR
 */
#include <rastrum.h>

#include <gdal.h>
#include <ogr_srs_api.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "FAIL line %d: ", __LINE__);  \
            fprintf(stderr, __VA_ARGS__);                 \
            fprintf(stderr, "\n");                        \
            failures++;                                   \
        }                                                 \
    } while (0)

/* A one-band GeoTIFF in EPSG:32633 with 20 m pixels (or no georeferencing when epsg is 0). */
static int write_raster(const char *path, int w, int h, GDALDataType type, const double *values, int epsg) {
    GDALDriverH driver = GDALGetDriverByName("GTiff");
    GDALDatasetH ds = driver ? GDALCreate(driver, path, w, h, 1, type, NULL) : NULL;
    if (!ds) {
        fprintf(stderr, "cannot create %s\n", path);
        return 0;
    }
    if (epsg) {
        double gt[6] = {500000.0, 20.0, 0.0, 4000000.0, 0.0, -20.0};
        OGRSpatialReferenceH srs = OSRNewSpatialReference(NULL);
        OSRImportFromEPSG(srs, epsg);
        GDALSetGeoTransform(ds, gt);
        GDALSetSpatialRef(ds, srs);
        OSRDestroySpatialReference(srs);
    }
    CPLErr err = GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 0, w, h, (void *)values, w, h, GDT_Float64, 0, 0);
    GDALClose(ds);
    return err == CE_None;
}

/* The number after "key": in a compact JSON text (NAN when absent). */
static double number(const char *json, const char *key) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    return at ? strtod(at + strlen(pattern), NULL) : NAN;
}

static int near(double a, double b) { return fabs(a - b) < 1e-9; }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    GDALAllRegister();
    char pred[1024], ref[1024], fpred[1024], fref[1024], plain[1024], wgs[1024];
    snprintf(pred, sizeof pred, "%s/eval_pred.tif", argv[1]);
    snprintf(ref, sizeof ref, "%s/eval_ref.tif", argv[1]);
    snprintf(fpred, sizeof fpred, "%s/eval_fpred.tif", argv[1]);
    snprintf(fref, sizeof fref, "%s/eval_fref.tif", argv[1]);
    snprintf(plain, sizeof plain, "%s/eval_plain.tif", argv[1]);
    snprintf(wgs, sizeof wgs, "%s/eval_wgs.tif", argv[1]);

    /* reference      prediction
     * 0 0 1 1        0 1 1 1
     * 0 0 1 1        0 0 1 2
     * 2 2 2 2        2 2 2 1
     * 2 2 1 0        2 0 1 0
     * confusion [[4,1,0],[0,4,1],[1,1,4]]: OA 12/16, kappa (192-85)/(256-85) = 107/171. */
    const double r[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 1, 0};
    const double p[16] = {0, 1, 1, 1, 0, 0, 1, 2, 2, 2, 2, 1, 2, 0, 1, 0};
    /* Values k/8 and the same plus 1/8: MAE 1/8, MSE 1/64, PSNR 10 log10(64) for range 1. */
    double fr[16], fp[16];
    for (int i = 0; i < 16; i++) {
        fr[i] = (double)(i % 9) / 8.0;
        fp[i] = fr[i] + 0.125;
    }
    if (!write_raster(pred, 4, 4, GDT_Byte, p, 32633) || !write_raster(ref, 4, 4, GDT_Byte, r, 32633) ||
        !write_raster(fpred, 4, 4, GDT_Float32, fp, 32633) || !write_raster(fref, 4, 4, GDT_Float32, fr, 32633) ||
        !write_raster(plain, 4, 4, GDT_Byte, r, 0) || !write_raster(wgs, 4, 4, GDT_Byte, r, 4326)) {
        return 1;
    }

    /* Classes, default options (NULL). */
    char *json = NULL;
    int32_t s = rastrum_eval(pred, ref, NULL, &json);
    CHECK(s == RASTRUM_OK, "rastrum_eval: %s", rastrum_last_error_message());
    if (json) {
        CHECK(strstr(json, "\"kind\":\"classes\"") != NULL, "kind: %s", json);
        CHECK(strstr(json, "\"confusion\":[[4,1,0],[0,4,1],[1,1,4]]") != NULL, "confusion: %s", json);
        CHECK(near(number(json, "overall_accuracy"), 0.75), "OA %g", number(json, "overall_accuracy"));
        CHECK(near(number(json, "kappa"), 107.0 / 171.0), "kappa %g", number(json, "kappa"));
        CHECK(near(number(json, "weighted_f1"), 0.75), "weighted F1 %g", number(json, "weighted_f1"));
        CHECK(near(number(json, "compared"), 16), "compared %g", number(json, "compared"));
        rastrum_string_free(json);
        json = NULL;
    }

    /* Values through the options object: 4 x 4 float pair, error 1/8 everywhere. */
    rastrum_eval_options *o = NULL;
    CHECK(rastrum_eval_options_new(&o) == RASTRUM_OK && o, "options_new");
    s = rastrum_eval(fpred, fref, o, &json);
    CHECK(s == RASTRUM_OK, "values: %s", rastrum_last_error_message());
    if (json) {
        CHECK(strstr(json, "\"kind\":\"values\"") != NULL, "kind: %s", json);
        CHECK(near(number(json, "mae"), 0.125), "MAE %g", number(json, "mae"));
        CHECK(near(number(json, "bias"), 0.125), "bias %g", number(json, "bias"));
        CHECK(near(number(json, "difference"), 2.0), "total difference %g", number(json, "difference"));
        rastrum_string_free(json);
        json = NULL;
    }
    /* The same as an image with data range 1: PSNR 10 log10(64) dB; SSIM needs 11 x 11 (null). */
    CHECK(rastrum_eval_options_set(o, "kind", "image") == RASTRUM_OK, "set kind");
    CHECK(rastrum_eval_options_set(o, "data_range", "1") == RASTRUM_OK, "set data_range");
    s = rastrum_eval(fpred, fref, o, &json);
    CHECK(s == RASTRUM_OK, "image: %s", rastrum_last_error_message());
    if (json) {
        CHECK(near(number(json, "psnr"), 10.0 * log10(64.0)), "PSNR %.15g", number(json, "psnr"));
        CHECK(strstr(json, "\"ssim\":null") != NULL, "ssim: %s", json);
        rastrum_string_free(json);
        json = NULL;
    }

    /* Errors: statuses and messages naming the problem; *out_json untouched. */
    s = rastrum_eval_options_set(o, "colour", "red");
    CHECK(s == RASTRUM_INVALID_ARGUMENT && strstr(rastrum_last_error_message(), "colour"), "unknown key: %d %s", (int)s,
          rastrum_last_error_message());
    CHECK(rastrum_eval(NULL, ref, NULL, &json) == RASTRUM_INVALID_ARGUMENT && json == NULL, "NULL prediction");
    CHECK(rastrum_eval(pred, NULL, NULL, &json) == RASTRUM_INVALID_ARGUMENT, "NULL reference");
    CHECK(rastrum_eval(pred, ref, NULL, NULL) == RASTRUM_INVALID_ARGUMENT, "NULL out_json");
    CHECK(rastrum_eval_options_new(NULL) == RASTRUM_INVALID_ARGUMENT, "options_new(NULL)");
    CHECK(rastrum_eval_options_set(NULL, "kind", "image") == RASTRUM_INVALID_ARGUMENT, "set(NULL)");
    s = rastrum_eval(pred, wgs, NULL, &json);
    CHECK(s == RASTRUM_INVALID_ARGUMENT && strstr(rastrum_last_error_message(), "EPSG:4326") &&
              strstr(rastrum_last_error_message(), "EPSG:32633") && json == NULL,
          "CRS mismatch: %d %s", (int)s, rastrum_last_error_message());
    s = rastrum_eval(pred, plain, NULL, &json);
    CHECK(s == RASTRUM_INVALID_ARGUMENT && strstr(rastrum_last_error_message(), "has none"), "one without CRS: %s",
          rastrum_last_error_message());
    s = rastrum_eval("/nonexistent/p.tif", ref, NULL, &json);
    CHECK(s == RASTRUM_IO, "missing file: %d %s", (int)s, rastrum_last_error_message());
    rastrum_eval_options_free(o);
    rastrum_eval_options_free(NULL);

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("eval_c: all checks passed\n");
    return 0;
}
