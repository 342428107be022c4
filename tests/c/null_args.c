/*
 * Every required pointer argument of every function, given NULL, returns
 * RASTRUM_INVALID_ARGUMENT (and never crashes); every _free(NULL) is a no-op.
 *
 *   null_args MODEL INPUT OUTPUT     (a model and raster that run, to get real handles)
 */
#include <rastrum.h>

#include <stdio.h>

static int failures = 0;

#define EXPECT_INVALID(call)                                                           \
    do {                                                                               \
        int32_t s_ = (call);                                                           \
        if (s_ != RASTRUM_INVALID_ARGUMENT) {                                          \
            fprintf(stderr, "FAIL line %d: %s returned %d\n", __LINE__, #call, (int)s_); \
            failures++;                                                                \
        }                                                                              \
    } while (0)

int main(int argc, char **argv) {
    rastrum_model *m = NULL;
    rastrum_options *o = NULL;
    rastrum_cancel *c = NULL;
    rastrum_result *r = NULL;
    char *s = NULL;
    size_t u = 0;
    double d = 0;
    size_t z = 0;
    int64_t shape[4];
    float in[1] = {0}, out[1];

    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL INPUT OUTPUT\n", argv[0]);
        return 2;
    }
    if (rastrum_model_open(argv[1], NULL, 1, 0, &m) != RASTRUM_OK || rastrum_options_new(&o) != RASTRUM_OK ||
        rastrum_cancel_new(&c) != RASTRUM_OK || rastrum_run(m, argv[2], argv[3], NULL, NULL, NULL, &r) != RASTRUM_OK) {
        fprintf(stderr, "setup failed: %s\n", rastrum_last_error_message());
        return 1;
    }

    EXPECT_INVALID(rastrum_init(NULL));
    EXPECT_INVALID(rastrum_model_open(NULL, "cpu", 1, 0, &m));
    EXPECT_INVALID(rastrum_model_open(argv[1], "cpu", 1, 0, NULL));
    EXPECT_INVALID(rastrum_model_provider(NULL, &s));
    EXPECT_INVALID(rastrum_model_provider(m, NULL));
    EXPECT_INVALID(rastrum_model_card_json(NULL, NULL, &s));
    EXPECT_INVALID(rastrum_model_card_json(m, NULL, NULL));
    EXPECT_INVALID(rastrum_card_read(NULL, &s));
    EXPECT_INVALID(rastrum_card_read(argv[1], NULL));
    EXPECT_INVALID(rastrum_card_write(NULL, "out.onnx", "{}", NULL));
    EXPECT_INVALID(rastrum_card_write(argv[1], NULL, "{}", NULL));
    EXPECT_INVALID(rastrum_card_write(argv[1], "out.onnx", NULL, NULL));
    EXPECT_INVALID(rastrum_card_write(argv[1], "out.onnx", "[1, 2]", NULL));
    EXPECT_INVALID(rastrum_model_output_shape(NULL, 1, 1, 1, 1, 0, shape, 4, &z, &z));
    EXPECT_INVALID(rastrum_model_output_shape(m, 1, 1, 1, 1, 0, NULL, 4, &z, &z));
    EXPECT_INVALID(rastrum_model_output_shape(m, 1, 1, 1, 1, 0, shape, 4, NULL, &z));
    EXPECT_INVALID(rastrum_model_output_shape(m, 1, 1, 1, 1, 0, shape, 4, &z, NULL));
    EXPECT_INVALID(rastrum_model_run_buffer(NULL, in, 1, 1, 1, 1, 0, out, 1, &z));
    EXPECT_INVALID(rastrum_model_run_buffer(m, NULL, 1, 1, 1, 1, 0, out, 1, &z));
    EXPECT_INVALID(rastrum_model_run_buffer(m, in, 1, 1, 1, 1, 0, NULL, 1, &z));
    EXPECT_INVALID(rastrum_model_run_buffer(m, in, 1, 1, 1, 1, 0, out, 1, NULL));
    EXPECT_INVALID(rastrum_options_new(NULL));
    EXPECT_INVALID(rastrum_options_set(NULL, "batch", "2"));
    EXPECT_INVALID(rastrum_options_set(o, NULL, "2"));
    EXPECT_INVALID(rastrum_options_set(o, "batch", NULL));
    EXPECT_INVALID(rastrum_options_clone(NULL, &o));
    EXPECT_INVALID(rastrum_options_clone(o, NULL));
    EXPECT_INVALID(rastrum_options_clear_cancel(NULL));
    EXPECT_INVALID(rastrum_options_set_cancel(NULL, c));
    EXPECT_INVALID(rastrum_options_set_cancel(o, NULL));
    EXPECT_INVALID(rastrum_cancel_new(NULL));
    EXPECT_INVALID(rastrum_cancel_set(NULL, 1));
    EXPECT_INVALID(rastrum_run(NULL, argv[2], argv[3], o, NULL, NULL, NULL));
    EXPECT_INVALID(rastrum_run(m, NULL, argv[3], o, NULL, NULL, NULL));
    EXPECT_INVALID(rastrum_run(m, argv[2], NULL, o, NULL, NULL, NULL));
    EXPECT_INVALID(rastrum_result_tiles(NULL, &u, &u, &u));
    EXPECT_INVALID(rastrum_result_tiles(r, NULL, &u, &u));
    EXPECT_INVALID(rastrum_result_tiles(r, &u, NULL, &u));
    EXPECT_INVALID(rastrum_result_tiles(r, &u, &u, NULL));
    EXPECT_INVALID(rastrum_result_seconds(NULL, &d));
    EXPECT_INVALID(rastrum_result_seconds(r, NULL));
    EXPECT_INVALID(rastrum_result_json(NULL, &s));
    EXPECT_INVALID(rastrum_result_json(r, NULL));
    EXPECT_INVALID(rastrum_result_provider(NULL, &s));
    EXPECT_INVALID(rastrum_result_provider(r, NULL));
    /* Zero-sized shapes are invalid too, not a crash. */
    EXPECT_INVALID(rastrum_model_run_buffer(m, in, 0, 1, 1, 1, 0, out, 1, &z));

    /* Freeing keeps the message of the last failed call. */
    rastrum_string_free(NULL);
    rastrum_result_free(NULL);
    if (rastrum_last_error_message()[0] == '\0') {
        fprintf(stderr, "FAIL: a _free call erased the last error message\n");
        failures++;
    }
    rastrum_model_free(NULL);
    rastrum_options_free(NULL);
    rastrum_cancel_free(NULL);
    rastrum_result_free(NULL);

    rastrum_result_free(r);
    rastrum_cancel_free(c);
    rastrum_options_free(o);
    rastrum_model_free(m);
    printf("null_args: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
