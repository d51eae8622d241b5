/* tests/fuzz/fuzz-dockercfg.c: libFuzzer target for the config.json / Secret (JSON and
 * YAML) parser and the keyring built from it. */
#include <stdint.h>
#include <stdlib.h>
#include "client/dockercfg.h"
#include "client/keyring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        dockercfg_t *c = NULL;
        keyring_t *k = NULL;
        keyring_cred_t *v = NULL;
        size_t n = 0;

        if (dockercfg_parse((const char *) data, size, &c, NULL) != 0)
                return 0;
        if (keyring_new(&k) == 0 && keyring_add(k, KEYRING_POD, c) == 0 &&
            keyring_lookup(k, "registry.example:5000/team/app", &v, &n) == 0)
                free(v);
        keyring_free(k);
        dockercfg_free(c);
        return 0;
}
