// Berkeley DB 5.3 (libdb5.3-dev). DB and DBC are structs of function pointers, which Swift cannot
// call directly: each operation mailstack needs is wrapped here as a static inline function.
#ifndef MAILSTACK_CBERKELEYDB_SHIM_H
#define MAILSTACK_CBERKELEYDB_SHIM_H

#include <db.h>
#include <string.h>

static inline int ms_db_create(DB **dbp) { return db_create(dbp, NULL, 0); }

static inline int ms_db_open(DB *db, const char *file, DBTYPE type, u_int32_t flags, int mode) {
    return db->open(db, NULL, file, NULL, type, flags, mode);
}

static inline int ms_db_close(DB *db) { return db->close(db, 0); }

static inline int ms_db_sync(DB *db) { return db->sync(db, 0); }

static inline int ms_db_get(DB *db, const void *key, u_int32_t klen, void **val, u_int32_t *vlen) {
    DBT k, v;
    memset(&k, 0, sizeof k);
    memset(&v, 0, sizeof v);
    k.data = (void *)key;
    k.size = klen;
    int rc = db->get(db, NULL, &k, &v, 0);
    if (rc == 0) { *val = v.data; *vlen = v.size; }
    return rc;
}

static inline int ms_db_put(DB *db, const void *key, u_int32_t klen, const void *val, u_int32_t vlen,
                            u_int32_t flags) {
    DBT k, v;
    memset(&k, 0, sizeof k);
    memset(&v, 0, sizeof v);
    k.data = (void *)key;
    k.size = klen;
    v.data = (void *)val;
    v.size = vlen;
    return db->put(db, NULL, &k, &v, flags);
}

static inline int ms_db_del(DB *db, const void *key, u_int32_t klen) {
    DBT k;
    memset(&k, 0, sizeof k);
    k.data = (void *)key;
    k.size = klen;
    return db->del(db, NULL, &k, 0);
}

static inline int ms_db_cursor(DB *db, DBC **cur) { return db->cursor(db, NULL, cur, 0); }

static inline int ms_dbc_next(DBC *cur, void **key, u_int32_t *klen, void **val, u_int32_t *vlen) {
    DBT k, v;
    memset(&k, 0, sizeof k);
    memset(&v, 0, sizeof v);
    int rc = cur->get(cur, &k, &v, DB_NEXT);
    if (rc == 0) { *key = k.data; *klen = k.size; *val = v.data; *vlen = v.size; }
    return rc;
}

static inline int ms_dbc_close(DBC *cur) { return cur->close(cur); }

static inline int ms_db_get_type(DB *db, DBTYPE *type) { return db->get_type(db, type); }

#endif
