/*
 * The smallest C host of librastrum: one run of a model over a raster through the C API, for
 * the model corpus (tests/qgis/test_corpus.py), which checks its outputs against numpy.
 *
 *   run_model MODEL INPUT OUTPUT [OPTION=VALUE ...]     (options as in rastrum_options_set)
 *
 * Prints the run's JSON summary on stdout and exits 0; on a failed call prints the library's
 * message on stderr and exits with the call's status (1 for bad arguments).
 */
#include <rastrum.h>

#include <stdio.h>
#include <string.h>

static int failed(int32_t status) {
    fprintf(stderr, "%s\n", rastrum_last_error_message());
    return status > 0 ? status : 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL INPUT OUTPUT [OPTION=VALUE ...]\n", argv[0]);
        return 1;
    }
    rastrum_model *model = NULL;
    rastrum_options *options = NULL;
    rastrum_result *result = NULL;
    char *json = NULL;
    int32_t status = rastrum_model_open(argv[1], "cpu", 0, 0, &model);
    if (status == RASTRUM_OK) status = rastrum_options_new(&options);
    for (int i = 4; status == RASTRUM_OK && i < argc; i++) {
        char *equals = strchr(argv[i], '=');
        if (equals == NULL) {
            fprintf(stderr, "expected OPTION=VALUE, found '%s'\n", argv[i]);
            rastrum_options_free(options);
            rastrum_model_free(model);
            return 1;
        }
        *equals = '\0';
        status = rastrum_options_set(options, argv[i], equals + 1);
    }
    if (status == RASTRUM_OK) status = rastrum_run(model, argv[2], argv[3], options, NULL, NULL, &result);
    if (status == RASTRUM_OK) status = rastrum_result_json(result, &json);
    int code = status == RASTRUM_OK ? 0 : failed(status);
    if (json != NULL) printf("%s\n", json);
    rastrum_string_free(json);
    rastrum_result_free(result);
    rastrum_options_free(options);
    rastrum_model_free(model);
    return code;
}
