/*
 * A panic injected into every entry point (RASTRUM_INJECT_PANIC=<name>, the library's test hook)
 * comes back as RASTRUM_PANIC with a message naming the function: the host goes on, its
 * handles stay usable, and nothing leaks (this test also runs under ASan and Valgrind).
 *
 *   panic_each MODEL INPUT OUTDIR     (a one-channel model and a raster it runs on)
 */
#include <rastrum.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0, checked = 0;

static void inject(const char *name) { setenv("RASTRUM_INJECT_PANIC", name, 1); }

/* After a call made with `name` injected: the status and the message. */
static void expect_panic(const char *name, int32_t status) {
    unsetenv("RASTRUM_INJECT_PANIC");
    const char *msg = rastrum_last_error_message();
    if (status != RASTRUM_PANIC || strstr(msg, name) == NULL || strstr(msg, "panic") == NULL) {
        fprintf(stderr, "FAIL %s: status %d, message '%s'\n", name, (int)status, msg);
        failures++;
    }
    checked++;
}

/* A void function (the _free family): only the message can tell. */
static void expect_panic_void(const char *name) { expect_panic(name, RASTRUM_PANIC); }

/* Rows of a stitcher, dropped (non-zero: go on). */
static int ignore_rows(const rastrum_rows *rows, void *user) {
    (void)rows;
    (void)user;
    return 1;
}

#define CALL(name, call) (inject(name), (call))

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL INPUT OUTDIR\n", argv[0]);
        return 2;
    }
    const char *model_path = argv[1], *input = argv[2], *outdir = argv[3];
    char output[4096], tiles_dir[4096];
    snprintf(output, sizeof output, "%s/panic_each.tif", outdir);
    snprintf(tiles_dir, sizeof tiles_dir, "%s/panic_each_tiles", outdir);

    rastrum_model *m = NULL, *m2 = NULL;
    rastrum_options *o = NULL, *o2 = NULL;
    rastrum_cancel *c = NULL, *c2 = NULL;
    rastrum_result *r = NULL, *r2 = NULL;
    rastrum_eval_options *e = NULL, *e2 = NULL;
    rastrum_tiles_options *t = NULL, *t2 = NULL;
    char *s = NULL;
    size_t u = 0;
    double d = 0;
    size_t rank = 0, len = 0, written = 0;
    int64_t shape[4];
    float in[64] = {0}, out[64];
    rastrum_plan *p = NULL, *p2 = NULL;
    rastrum_stitcher *st = NULL, *st2 = NULL;
    rastrum_plan_info info;
    rastrum_tile tile;
    static float tile_in[64 * 64], tile_out[64 * 64];
    static uint8_t tile_valid[64 * 64];
    int32_t any = 0;
    const double gt[6] = {0, 1, 0, 0, 0, -1};
    char unfinished[4096], card_copy[4096];
    snprintf(card_copy, sizeof card_copy, "%s/panic_each_card.onnx", outdir);
    snprintf(unfinished, sizeof unfinished, "%s/panic_each_stitched.tif", outdir);

    if (rastrum_model_open(model_path, NULL, 1, 0, &m) != RASTRUM_OK || rastrum_options_new(&o) != RASTRUM_OK ||
        rastrum_options_set(o, "tile-size", "64") != RASTRUM_OK || rastrum_cancel_new(&c) != RASTRUM_OK ||
        rastrum_run(m, input, output, o, NULL, NULL, &r) != RASTRUM_OK ||
        rastrum_eval_options_new(&e) != RASTRUM_OK || rastrum_tiles_options_new(&t) != RASTRUM_OK ||
        rastrum_tiles_options_set(t, "zoom", "1") != RASTRUM_OK || rastrum_model_provider(m, &s) != RASTRUM_OK ||
        rastrum_plan_open(input, m, o, &p) != RASTRUM_OK ||
        rastrum_stitcher_new_rows(p, ignore_rows, NULL, &st) != RASTRUM_OK) {
        fprintf(stderr, "setup failed: %s\n", rastrum_last_error_message());
        return 1;
    }
    remove(output);

    expect_panic("rastrum_init", CALL("rastrum_init", rastrum_init("/nonexistent/libonnxruntime.so")));
    expect_panic("rastrum_model_open", CALL("rastrum_model_open", rastrum_model_open(model_path, NULL, 1, 0, &m2)));
    expect_panic("rastrum_model_provider", CALL("rastrum_model_provider", rastrum_model_provider(m, &s)));
    expect_panic("rastrum_model_card_json", CALL("rastrum_model_card_json", rastrum_model_card_json(m, o, &s)));
    expect_panic("rastrum_card_read", CALL("rastrum_card_read", rastrum_card_read(model_path, &s)));
    expect_panic("rastrum_card_write", CALL("rastrum_card_write", rastrum_card_write(model_path, card_copy, "{}", &s)));
    expect_panic("rastrum_model_output_shape",
                 CALL("rastrum_model_output_shape", rastrum_model_output_shape(m, 1, 1, 8, 8, 0, shape, 4, &rank, &len)));
    expect_panic("rastrum_model_run_buffer",
                 CALL("rastrum_model_run_buffer", rastrum_model_run_buffer(m, in, 1, 1, 8, 8, 0, out, 64, &written)));
    expect_panic("rastrum_options_new", CALL("rastrum_options_new", rastrum_options_new(&o2)));
    expect_panic("rastrum_options_clone", CALL("rastrum_options_clone", rastrum_options_clone(o, &o2)));
    expect_panic("rastrum_options_set", CALL("rastrum_options_set", rastrum_options_set(o, "batch", "2")));
    expect_panic("rastrum_options_set_cancel", CALL("rastrum_options_set_cancel", rastrum_options_set_cancel(o, c)));
    expect_panic("rastrum_options_clear_cancel", CALL("rastrum_options_clear_cancel", rastrum_options_clear_cancel(o)));
    expect_panic("rastrum_cancel_new", CALL("rastrum_cancel_new", rastrum_cancel_new(&c2)));
    expect_panic("rastrum_cancel_set", CALL("rastrum_cancel_set", rastrum_cancel_set(c, 0)));
    expect_panic("rastrum_run", CALL("rastrum_run", rastrum_run(m, input, output, o, NULL, NULL, &r2)));
    expect_panic("rastrum_result_tiles", CALL("rastrum_result_tiles", rastrum_result_tiles(r, &u, &u, &u)));
    expect_panic("rastrum_result_seconds", CALL("rastrum_result_seconds", rastrum_result_seconds(r, &d)));
    expect_panic("rastrum_result_json", CALL("rastrum_result_json", rastrum_result_json(r, &s)));
    expect_panic("rastrum_result_provider", CALL("rastrum_result_provider", rastrum_result_provider(r, &s)));
    expect_panic("rastrum_eval_options_new", CALL("rastrum_eval_options_new", rastrum_eval_options_new(&e2)));
    expect_panic("rastrum_eval_options_set",
                 CALL("rastrum_eval_options_set", rastrum_eval_options_set(e, "kind", "auto")));
    expect_panic("rastrum_eval", CALL("rastrum_eval", rastrum_eval(input, input, e, &s)));
    expect_panic("rastrum_tiles_options_new", CALL("rastrum_tiles_options_new", rastrum_tiles_options_new(&t2)));
    expect_panic("rastrum_tiles_options_set", CALL("rastrum_tiles_options_set", rastrum_tiles_options_set(t, "zoom", "2")));
    {
        const char *inputs[1] = {input};
        expect_panic("rastrum_tiles", CALL("rastrum_tiles", rastrum_tiles(inputs, 1, tiles_dir, t, NULL, NULL, &s)));
        expect_panic("rastrum_assemble", CALL("rastrum_assemble", rastrum_assemble(inputs, 1, output, o)));
    }
    expect_panic("rastrum_layout_json", CALL("rastrum_layout_json", rastrum_layout_json(m, input, o, &s)));
    expect_panic("rastrum_plan_open", CALL("rastrum_plan_open", rastrum_plan_open(input, m, o, &p2)));
    expect_panic("rastrum_plan_new", CALL("rastrum_plan_new", rastrum_plan_new(100, 80, 1, m, o, &p2)));
    expect_panic("rastrum_plan_set_georeference",
                 CALL("rastrum_plan_set_georeference", rastrum_plan_set_georeference(p, gt, NULL)));
    expect_panic("rastrum_plan_get_info", CALL("rastrum_plan_get_info", rastrum_plan_get_info(p, &info)));
    expect_panic("rastrum_plan_get_tile", CALL("rastrum_plan_get_tile", rastrum_plan_get_tile(p, 0, &tile)));
    expect_panic("rastrum_plan_read_tile",
                 CALL("rastrum_plan_read_tile", rastrum_plan_read_tile(p, 0, tile_in, 64 * 64, tile_valid, 64 * 64,
                                                                       NULL, 0, &any)));
    expect_panic("rastrum_stitcher_new", CALL("rastrum_stitcher_new", rastrum_stitcher_new(p, unfinished, &st2)));
    expect_panic("rastrum_stitcher_new_rows",
                 CALL("rastrum_stitcher_new_rows", rastrum_stitcher_new_rows(p, ignore_rows, NULL, &st2)));
    expect_panic("rastrum_stitcher_add",
                 CALL("rastrum_stitcher_add", rastrum_stitcher_add(st, 0, tile_out, 64 * 64, NULL, 0, NULL, 0)));
    expect_panic("rastrum_stitcher_progress", CALL("rastrum_stitcher_progress", rastrum_stitcher_progress(st, &u, &u)));
    expect_panic("rastrum_stitcher_finish", CALL("rastrum_stitcher_finish", rastrum_stitcher_finish(st)));

    /* The _free family: the object survives the injected panic and is freed afterwards. */
    inject("rastrum_stitcher_free"), rastrum_stitcher_free(st), expect_panic_void("rastrum_stitcher_free");
    inject("rastrum_plan_free"), rastrum_plan_free(p), expect_panic_void("rastrum_plan_free");
    inject("rastrum_string_free"), rastrum_string_free(s), expect_panic_void("rastrum_string_free");
    inject("rastrum_result_free"), rastrum_result_free(r), expect_panic_void("rastrum_result_free");
    inject("rastrum_cancel_free"), rastrum_cancel_free(c), expect_panic_void("rastrum_cancel_free");
    inject("rastrum_options_free"), rastrum_options_free(o), expect_panic_void("rastrum_options_free");
    inject("rastrum_eval_options_free"), rastrum_eval_options_free(e), expect_panic_void("rastrum_eval_options_free");
    inject("rastrum_tiles_options_free"), rastrum_tiles_options_free(t),
        expect_panic_void("rastrum_tiles_options_free");
    inject("rastrum_model_free"), rastrum_model_free(m), expect_panic_void("rastrum_model_free");

    /* Nothing was made by the calls that panicked, and the handles still work. */
    if (m2 || o2 || c2 || r2 || e2 || t2 || p2 || st2) {
        fprintf(stderr, "FAIL: a call that panicked wrote a handle\n");
        failures++;
    }
    if (access(output, F_OK) == 0 || access(tiles_dir, F_OK) == 0 || access(unfinished, F_OK) == 0) {
        fprintf(stderr, "FAIL: a call that panicked left an output\n");
        failures++;
    }
    if (rastrum_result_tiles(r, &u, &u, &u) != RASTRUM_OK || rastrum_options_set(o, "batch", "2") != RASTRUM_OK ||
        rastrum_run(m, input, output, o, NULL, NULL, &r2) != RASTRUM_OK || rastrum_plan_get_info(p, &info) != RASTRUM_OK ||
        rastrum_stitcher_add(st, 0, tile_out, 64 * 64, NULL, 0, NULL, 0) != RASTRUM_OK) {
        fprintf(stderr, "FAIL: the handles no longer work: %s\n", rastrum_last_error_message());
        failures++;
    }

    rastrum_stitcher_free(st);
    rastrum_plan_free(p);
    rastrum_result_free(r2);
    rastrum_string_free(s);
    rastrum_result_free(r);
    rastrum_cancel_free(c);
    rastrum_options_free(o);
    rastrum_eval_options_free(e);
    rastrum_tiles_options_free(t);
    rastrum_model_free(m);
    printf("panic_each: %d entry points, %s\n", checked, failures ? "FAILED" : "ok");
    return failures || checked < 46 ? 1 : 0;
}
