/* common/err.c: messages for berth's error codes. */
#include <string.h>
#include "common/err.h"

const char *berth_strerror(int err) {
        switch (err) {
        case 0: return "success";
        case BERTH_EDIGEST: return "content does not match its digest";
        case BERTH_EDIGEST_INVALID: return "invalid digest";
        case BERTH_ENAME_INVALID: return "invalid repository name";
        case BERTH_ETAG_INVALID: return "invalid tag";
        case BERTH_EMANIFEST: return "invalid manifest";
        case BERTH_EMANIFEST_BLOB_UNKNOWN: return "manifest references an unknown blob";
        case BERTH_ETOOBIG: return "input too large";
        case BERTH_EDB: return "metadata database error";
        case BERTH_ECRYPTO: return "cryptographic library error";
        case BERTH_EJSON: return "malformed JSON";
        case BERTH_EUNSUPPORTED: return "unsupported";
        case BERTH_EREF_INVALID: return "invalid image reference";
        case BERTH_ECONFIG: return "invalid configuration";
        case BERTH_EAUTH: return "authentication required";
        case BERTH_EDENIED: return "access denied";
        case BERTH_ETHROTTLED: return "too many attempts";
        case BERTH_EBUSY: return "resource busy";
        case BERTH_EHTTP: return "registry transport error";
        case BERTH_EUNAVAILABLE: return "registry unavailable";
        case BERTH_ESTOREDOWN: return "object store unavailable";
        case BERTH_ENOTFOUND: return "not found in the registry";
        case BERTH_EDBDOWN: return "metadata database unreachable";
        case BERTH_EQUOTA: return "storage quota exceeded";
        default: break;
        }
        if (err < 0 && err > -1000)
                return strerrordesc_np(-err) ? strerrordesc_np(-err) : "unknown error";
        return "unknown error";
}
