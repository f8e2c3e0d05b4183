// glibc's resolver (libresolv): queries with a private res_state, so each query can name its
// own servers and timeouts, and answers parsed with ns_parserr.
#ifndef MAILSTACK_CRESOLV_SHIM_H
#define MAILSTACK_CRESOLV_SHIM_H

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

// Outcome of one query.
enum {
    MS_DNS_OK = 0,        // answer in the buffer (may have no records of the type: NODATA)
    MS_DNS_NXDOMAIN = 1,  // the name does not exist
    MS_DNS_NODATA = 2,    // the name exists, no records of this type
    MS_DNS_TEMP = 3,      // SERVFAIL, timeout, network error: try again later
    MS_DNS_FAIL = 4       // anything else permanent (FORMERR, REFUSED, NOTIMP)
};

// Runs one query. `servers` are IPv4 dotted quads with ports (up to MAXNS), or none for
// /etc/resolv.conf. Returns the outcome; the answer's length in *len.
static inline int ms_dns_query(const char *name, int type, const char *const *servers, const int *ports, int nservers,
                               int timeout_seconds, int attempts, unsigned char *answer, int *len) {
    struct __res_state *state = calloc(1, sizeof(struct __res_state));
    if (!state) return MS_DNS_TEMP;
    if (res_ninit(state) != 0) { free(state); return MS_DNS_TEMP; }
    state->options &= ~(RES_DNSRCH | RES_DEFNAMES);
    state->retrans = timeout_seconds > 0 ? timeout_seconds : 1;
    state->retry = attempts > 0 ? attempts : 1;
    if (nservers > 0) {
        int n = nservers < MAXNS ? nservers : MAXNS;
        for (int i = 0; i < n; i++) {
            struct sockaddr_in *sin = &state->nsaddr_list[i];
            memset(sin, 0, sizeof *sin);
            sin->sin_family = AF_INET;
            sin->sin_port = htons((unsigned short)ports[i]);
            inet_pton(AF_INET, servers[i], &sin->sin_addr);
        }
        state->nscount = n;
    }
    int rc = res_nquery(state, name, ns_c_in, type, answer, *len);
    int herr = state->res_h_errno;
    res_nclose(state);
    free(state);
    if (rc >= 0) { *len = rc; return MS_DNS_OK; }
    switch (herr) {
    case HOST_NOT_FOUND: return MS_DNS_NXDOMAIN;
    case NO_DATA: return MS_DNS_NODATA;
    case TRY_AGAIN: return MS_DNS_TEMP;
    case NETDB_INTERNAL: return MS_DNS_TEMP;
    default: {
        // res_nquery reports SERVFAIL as TRY_AGAIN and REFUSED/FORMERR as NO_RECOVERY.
        return MS_DNS_FAIL;
    }
    }
}

// One answer record of `type`: index `i` among all answers. Returns 1 with the record's TTL and
// its data: for A/AAAA the raw address (4/16 octets in out), for PTR/CNAME the name (text),
// for MX the preference in *pref and the exchange name; 0 when `i` is past the end or the
// record has another type; -1 on a malformed answer.
static inline int ms_dns_record(const unsigned char *answer, int len, int i, int type, unsigned int *ttl, int *pref,
                                char *out, int outlen) {
    ns_msg msg;
    if (ns_initparse(answer, len, &msg) < 0) return -1;
    if (i >= ns_msg_count(msg, ns_s_an)) return 0;
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) return -1;
    if (ns_rr_type(rr) != type) return 0;
    *ttl = ns_rr_ttl(rr);
    const unsigned char *rdata = ns_rr_rdata(rr);
    int rdlen = ns_rr_rdlen(rr);
    switch (type) {
    case ns_t_a:
    case ns_t_aaaa:
        if (rdlen > outlen) return -1;
        memcpy(out, rdata, rdlen);
        return 1;
    case ns_t_ptr:
    case ns_t_cname:
        return dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata, out, outlen) < 0 ? -1 : 1;
    case ns_t_mx:
        if (rdlen < 3) return -1;
        *pref = (rdata[0] << 8) | rdata[1];
        return dn_expand(ns_msg_base(msg), ns_msg_end(msg), rdata + 2, out, outlen) < 0 ? -1 : 1;
    default:
        return 0;
    }
}

// One TXT answer record: its character-strings, each as a length octet and its octets (the
// rdata as it is, at most outlen octets), for the caller to split. Returns the rdata's length,
// 0 when `i` is past the end or the record has another type, -1 on a malformed answer.
static inline int ms_dns_txt(const unsigned char *answer, int len, int i, unsigned int *ttl, unsigned char *out, int outlen) {
    ns_msg msg;
    if (ns_initparse(answer, len, &msg) < 0) return -1;
    if (i >= ns_msg_count(msg, ns_s_an)) return 0;
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) return -1;
    if (ns_rr_type(rr) != ns_t_txt) return 0;
    int rdlen = ns_rr_rdlen(rr);
    if (rdlen <= 0 || rdlen > outlen) return -1;
    *ttl = ns_rr_ttl(rr);
    memcpy(out, ns_rr_rdata(rr), rdlen);
    return rdlen;
}

// Records in the answer section.
static inline int ms_dns_answer_count(const unsigned char *answer, int len) {
    ns_msg msg;
    if (ns_initparse(answer, len, &msg) < 0) return -1;
    return ns_msg_count(msg, ns_s_an);
}

#endif
