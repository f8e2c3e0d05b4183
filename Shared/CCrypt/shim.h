// libcrypt (libxcrypt on Debian: libcrypt-dev): crypt(3) with SHA512-CRYPT ($6$), bcrypt ($2b$)
// and yescrypt ($y$).
#ifndef MAILSTACK_CCRYPT_SHIM_H
#define MAILSTACK_CCRYPT_SHIM_H

#include <crypt.h>
#include <stdlib.h>
#include <string.h>

// Hashes `phrase` with the salt and scheme of `setting` (a stored hash) into `out` (size
// CRYPT_OUTPUT_SIZE). Returns 0 on success. Thread-safe: the work area is per call.
static inline int ms_crypt(const char *phrase, const char *setting, char *out, size_t outlen) {
    struct crypt_data *data = calloc(1, sizeof(struct crypt_data));
    if (!data) return -1;
    char *r = crypt_r(phrase, setting, data);
    int rc = -1;
    if (r && r[0] != '*' && strlen(r) < outlen) {
        strcpy(out, r);
        rc = 0;
    }
    explicit_bzero(data, sizeof(struct crypt_data));
    free(data);
    return rc;
}

// A fresh setting (salt) for `prefix` ("$6$", "$2b$", "$y$"), for tools that create hashes.
static inline int ms_crypt_gensalt(const char *prefix, char *out, size_t outlen) {
    char *r = crypt_gensalt_rn(prefix, 0, NULL, 0, out, (int)outlen);
    return r ? 0 : -1;
}

#endif
