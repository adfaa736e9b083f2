/*
 * kt.h - the face of common/: errors, secure memory, careful file I/O, encodings, the strict
 * JSON layer, the binary record codec, PIN entry, progress and process hardening.
 *
 * common/ depends on nothing else of keytransfer. Every fallible function returns a kt_rc and,
 * on failure, fills the caller's kt_err once with a message a user can act on. Nothing here
 * prints (except the progress indicator, which the caller installs) and nothing exits.
 */
#ifndef KT_H
#define KT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/types.h>

#define KT_MUST         __attribute__((warn_unused_result))
#define KT_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Every error keytransfer can report. The exit status each maps to is docs/design.md §6. */
typedef enum kt_rc {
    KT_OK = 0,
    KT_EUSAGE,   /* bad command line (exit 2) */
    KT_EDENIED,  /* a check said no: signature, world binding, policy (exit 1) */
    KT_EPIN,     /* wrong PIN or damaged card (exit 1) */
    KT_EQUORUM,  /* fewer cards than the quorum (exit 1) */
    KT_EFORMAT,  /* malformed input (exit 3) */
    KT_ETOOBIG,  /* input over a size cap (exit 3) */
    KT_EVERSION, /* unknown format version (exit 3) */
    KT_EEXIST,   /* the target exists and would be replaced (exit 4) */
    KT_ENOENT,   /* a file or folder that must exist does not (exit 4) */
    KT_EIO,      /* reading or writing failed (exit 4) */
    KT_ECRYPTO,  /* the crypto backend failed (exit 5) */
    KT_ENOMEM,   /* out of (secure) memory (exit 5) */
    KT_RC_COUNT
} kt_rc;

/* Exit statuses of docs/design.md §6. */
enum {
    KT_EXIT_OK = 0,
    KT_EXIT_DENIED = 1,
    KT_EXIT_USAGE = 2,
    KT_EXIT_FORMAT = 3,
    KT_EXIT_IO = 4,
    KT_EXIT_CRYPTO = 5,
};

#define KT_ERR_MSG_MAX 1024

/* An error report: the code and a message (without a trailing newline). */
typedef struct kt_err {
    kt_rc rc;
    char msg[KT_ERR_MSG_MAX];
} kt_err;

/* The symbolic name ("KT_EPIN"), the generic message and the exit status of a code. */
const char *kt_rc_name(kt_rc rc);
const char *kt_rc_message(kt_rc rc);
int kt_rc_exit(kt_rc rc);

/* Clears an error report to KT_OK with an empty message. */
void kt_err_clear(kt_err *e);

/* Fills e with rc and a formatted message; returns rc so callers can `return kt_fail(...)`. */
KT_MUST kt_rc kt_fail(kt_err *e, kt_rc rc, const char *fmt, ...) KT_PRINTF(3, 4);

/* As kt_fail, with ": <strerror(errnum)>" appended. */
KT_MUST kt_rc kt_fail_errno(kt_err *e, kt_rc rc, int errnum, const char *fmt, ...) KT_PRINTF(4, 5);

/* As kt_fail, with the OpenSSL error queue drained and appended (the queue is left empty). */
KT_MUST kt_rc kt_fail_ssl(kt_err *e, kt_rc rc, const char *fmt, ...) KT_PRINTF(3, 4);

/* Prepends "<context>: " to the message already in e (used to name the file or card). */
void kt_err_prefix(kt_err *e, const char *fmt, ...) KT_PRINTF(2, 3);

/* ------------------------------------------------------------------------------------------ */
/* Secure memory                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* A buffer of secret bytes in sodium_malloc memory (guard pages, mlock, wiped on free). */
typedef struct kt_secbuf {
    uint8_t *p;
    size_t len;
} kt_secbuf;

/* Allocates len bytes (len may be 0: a 1-byte allocation is made) of secure memory. */
KT_MUST kt_rc kt_secbuf_alloc(kt_secbuf *b, size_t len, kt_err *e);

/* Wipes and frees b (safe on a zeroed or already-freed buffer); leaves b zeroed. */
void kt_secbuf_free(kt_secbuf *b);

/* Wipes n bytes at p (never optimised away). */
void kt_wipe(void *p, size_t n);

/* Constant-time comparison of n bytes: true when equal. */
bool kt_ct_equal(const void *a, const void *b, size_t n);

/* Fills p with n bytes from the system CSPRNG (libsodium randombytes). */
void kt_random(void *p, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Careful file I/O                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* A plain heap buffer for public data; free with kt_buf_free. */
typedef struct kt_buf {
    uint8_t *p;
    size_t len;
} kt_buf;

void kt_buf_free(kt_buf *b);

/* *out = a || b, a new heap buffer (the two-part blobs of RSA-AES key wrapping). */
KT_MUST kt_rc kt_buf_join(kt_buf *out, const kt_buf *a, const kt_buf *b, kt_err *e);

/* kt_file_write flags. */
enum {
    KT_WRITE_NEW = 0,     /* refuse (KT_EEXIST) when the target exists */
    KT_WRITE_REPLACE = 1, /* atomically replace an existing target (the --force path) */
};

/*
 * The one careful writer. Writes len bytes to path so that a crash at any instant leaves the
 * old state or the new one: the data goes to an unnamed (O_TMPFILE) or exclusive 0600 temp file
 * in the target folder, is written in full, fsync'd and closed with checks, then published
 * (without clobbering unless KT_WRITE_REPLACE) and the folder is fsync'd. The target must not be
 * a symlink. Leftover temp files of an earlier crashed write to the same target are removed.
 * The file is created 0600. The caller keeps ownership of data.
 */
KT_MUST kt_rc kt_file_write(const char *path, const void *data, size_t len, unsigned flags,
                            kt_err *e);

/*
 * The careful reader: path must be a regular file (not a symlink, FIFO or device) of at most max
 * bytes. On success *out holds a heap copy the caller frees with kt_buf_free.
 */
KT_MUST kt_rc kt_file_read(const char *path, size_t max, kt_buf *out, kt_err *e);

/* As kt_file_read, into secure memory (for files that hold secrets, such as PIN files). */
KT_MUST kt_rc kt_file_read_secret(const char *path, size_t max, kt_secbuf *out, kt_err *e);

/* Removes path and fsyncs its folder; KT_ENOENT when it does not exist. */
KT_MUST kt_rc kt_file_remove(const char *path, kt_err *e);

/* Creates dir and missing parents with mode 0700; an existing folder is accepted. */
KT_MUST kt_rc kt_dir_ensure(const char *dir, kt_err *e);

/* True when path exists (as anything, links not followed). */
bool kt_path_exists(const char *path);

/*
 * Takes an flock on fd (exclusive or shared), waiting at most KEYTRANSFER_LOCK_TIMEOUT seconds
 * (default 10; 0 means do not wait). On time-out, KT_EIO saying that what ("the security world
 * in /x") is in use and, when /proc tells, by which process and command.
 */
KT_MUST kt_rc kt_flock_wait(int fd, bool exclusive, const char *what, kt_err *e);

/* kt_folder_open flags. */
enum {
    KT_FOLDER_PRIVATE = 1, /* the folder must be ours and writable by nobody else, and no folder
                              on its path writable by others (unless sticky, as /tmp) */
};

/*
 * Opens the folder dir (O_RDONLY | O_DIRECTORY) one component at a time without following
 * symbolic links: the folder itself may never be a link (also when named "link/." or "link/"),
 * a link on the way is followed only when root owns it (/var/run). With KT_FOLDER_PRIVATE, also
 * refuses (KT_EDENIED, saying why and what to do) a folder that is not the user's or that others
 * can write to, and a path through a folder others can change. *fd: close() it.
 */
KT_MUST kt_rc kt_folder_open(const char *dir, unsigned flags, int *fd, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* The commit protocol: one change of several files and folders, all or nothing               */
/* ------------------------------------------------------------------------------------------ */

/*
 * Every multi-file writer (world new, package, toolset extract, keytransfer-cloud init) goes
 * through this, so that a crash or a kill at any instant leaves the old state or the new one:
 *
 *   kt_txn_begin   locks the folders the change writes to (flock, in the order given) and
 *                  writes the intent record .kt-txn.<id> into the first (the journal folder)
 *   kt_txn_put*    stages each file or folder under ".<name>.kt-txn.<id>" beside its final
 *                  name, written in full and fsync'd; nothing has a final name yet
 *   kt_txn_commit  fsyncs the folders, then creates .kt-txn.<id>.commit, which lists every
 *                  entry: THE COMMIT POINT; then renames each staged name to its final name in
 *                  the order staged, makes the removals asked for, fsyncs, and drops the records
 *
 * Before the commit point a failure undoes the staging (kt_txn_free); a kill leaves only
 * temporary names and the intent record, which kt_txn_recover removes. After it nothing is ever
 * deleted: a failure is reported (the change stands, the commit record stays), and
 * kt_txn_recover finishes the publishing. Every command that reads or writes such a folder calls
 * kt_txn_recover on it first (under the same folder lock). docs/formats.md describes the records.
 */
typedef struct kt_txn kt_txn;

/* How kt_txn_recover reports what it did: the change's label (what kt_txn_begin was given),
 * whether it was completed (true) or undone (false), and a line for people. */
typedef void (*kt_txn_report_fn)(void *ctx, const char *what, bool completed, const char *line);

/* What kt_txn_put gives a staged entry once committed. */
enum {
    KT_TXN_NEW = 0,     /* the final name must not exist (checked when staged and published) */
    KT_TXN_REPLACE = 1, /* replaces an existing regular file atomically */
};

/*
 * Begins a change labelled what ("world new", "package ContosoKey") over the folders dirs[0..n)
 * (dirs[0] holds the records; duplicates are merged). Every folder must exist; each is opened
 * with kt_folder_open(private ? KT_FOLDER_PRIVATE : 0) and locked (exclusive flock, waited for).
 * Leftovers of interrupted changes in dirs[0] are recovered first (report may be NULL).
 */
KT_MUST kt_rc kt_txn_begin(kt_txn **t, const char *what, const char *const *dirs, size_t ndirs,
                           bool private, kt_txn_report_fn report, void *ctx, kt_err *e);

/* Stages len bytes (mode 0600) for dirs[dir]/name (a plain file name). KT_EEXIST when the final
 * name exists and how is KT_TXN_NEW; KT_EIO for a link or a non-file with KT_TXN_REPLACE. */
KT_MUST kt_rc kt_txn_put(kt_txn *t, size_t dir, const char *name, const void *data, size_t len,
                         unsigned how, kt_err *e);

/*
 * Grouped durability, for a change of many files (a batch package): kt_txn_put no longer fsyncs
 * each file; kt_txn_commit calls syncfs(2) once on each folder's file system, which writes back
 * every staged file and reports a writeback error of any of them, before the folders are
 * fsync'd and the commit record is made. The commit point, and so the all-or-nothing rule, is
 * unchanged. Chosen right after kt_txn_begin, before anything is staged (KT_EUSAGE otherwise).
 */
KT_MUST kt_rc kt_txn_group_sync(kt_txn *t, kt_err *e);

/* Stages a folder (mode 0700) for dirs[dir]/name, which must not exist or be an empty folder of
 * the user's that nobody else can write to. staged (PATH_MAX bytes) receives its path, for the
 * caller to fill before commit with the ordinary writers. */
KT_MUST kt_rc kt_txn_put_dir(kt_txn *t, size_t dir, const char *name, char *staged, kt_err *e);

/* Asks for dirs[dir]/name to be removed once committed; with wipe, its bytes are overwritten and
 * synced after it is unlinked (a file that held a secret). A missing file is not an error. */
KT_MUST kt_rc kt_txn_remove(kt_txn *t, size_t dir, const char *name, bool wipe, kt_err *e);

/*
 * The commit point and the publishing. KT_OK: every entry has its final name and is durable.
 * On failure *committed says which side of the commit point it happened: false, nothing changed
 * (the staging is undone by kt_txn_free); true, the change stands and e says what is not yet
 * published or durable (the next kt_txn_recover of dirs[0] completes it).
 */
KT_MUST kt_rc kt_txn_commit(kt_txn *t, bool *committed, kt_err *e);

/* Undoes an uncommitted change (its staged names and intent record), unlocks and frees. NULL is
 * fine. After a failed commit past the commit point, only unlocks and frees. */
void kt_txn_free(kt_txn *t);

/*
 * Finishes (committed) or undoes (not committed) every change left in the folder jdir by an
 * interrupted run, under the folder's lock, telling report (may be NULL) about each. A folder
 * that does not exist holds none. A record that cannot be read is KT_EFORMAT naming it.
 */
KT_MUST kt_rc kt_txn_recover(const char *jdir, kt_txn_report_fn report, void *ctx, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Encodings                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void kt_hex(char *out, const uint8_t *in, size_t n);

/* Strict hex decoding (either case, no separators) of exactly outlen bytes. */
KT_MUST kt_rc kt_unhex(uint8_t *out, size_t outlen, const char *in, kt_err *e);

/* The hash grouped as vendors publish it: upper-case hex in groups of 8, space separated. */
void kt_hex_groups(char *out, size_t outsz, const uint8_t *in, size_t n);

/* Unpadded base64url of n bytes; *out is a NUL-terminated heap string the caller frees. */
KT_MUST kt_rc kt_b64url_encode(const uint8_t *in, size_t n, char **out, kt_err *e);

/* Strict unpadded base64url decoding: padding, whitespace, other alphabets and non-zero
 * trailing bits are refused. *out is a heap buffer the caller frees with kt_buf_free. */
KT_MUST kt_rc kt_b64url_decode(const char *in, size_t inlen, kt_buf *out, kt_err *e);

/* SHA-256 of n bytes. */
void kt_sha256(uint8_t out[32], const void *in, size_t n);

/* Formats a UNIX time as "YYYY-MM-DDThh:mm:ssZ" (out at least 21 bytes). */
void kt_time_iso8601(char *out, size_t outsz, uint64_t unix_seconds);

/* A buffer for kt_quote: up to 64 characters of the text and "...". */
#define KT_QUOTE_SIZE 68

/* The one way untrusted text enters a message: s[0..n-1] with printable ASCII (0x20..0x7e) kept
 * and anything else (control characters, escapes, NUL, UTF-8) as '?'; a text that does not fit
 * in outsz (at least 4) is cut and ends in "...". Returns out, always NUL-terminated. */
const char *kt_quote(char *out, size_t outsz, const char *s, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Key encodings: curves, SubjectPublicKeyInfo, PKCS#8 (keys.c)                                 */
/* ------------------------------------------------------------------------------------------ */

/* A supported elliptic curve, named in each vocabulary we meet. */
typedef struct kt_curve {
    const char *name;       /* ours, canonical: P-256, P-384, P-521, secp256k1 */
    const char *group;      /* OpenSSL's group name: prime256v1, secp384r1, ... */
    const char *jwk;        /* RFC 7518 "crv" (Key Vault adds P-256K for secp256k1) */
    unsigned bits;          /* the field size */
    size_t coord;           /* bytes of one coordinate */
    const char *aliases[3]; /* other spellings accepted on input */
} kt_curve;

#define KT_CURVES_SUPPORTED "P-256, P-384, P-521 and secp256k1"
#define KT_SPKI_MAX         (64 * 1024) /* the largest SubjectPublicKeyInfo accepted */
#define KT_PKCS8_MAX        16384       /* RSA-16384 PKCS#8 is about 9.4 KiB */

/* The i-th supported curve, NULL past the last. */
const kt_curve *kt_curve_at(size_t i);

/* The curve called name in any vocabulary or accepted spelling (case-insensitive), or NULL. */
const kt_curve *kt_curve_find(const char *name);

/* The curve whose RFC 7518 / Key Vault "crv" is exactly crv, or NULL. */
const kt_curve *kt_curve_by_jwk(const char *crv);

/* The SubjectPublicKeyInfo DER of key into *out (heap; kt_buf_free). */
KT_MUST kt_rc kt_spki_encode(EVP_PKEY *key, kt_buf *out, kt_err *e);

/* SHA-256 of the SubjectPublicKeyInfo DER of key: the fingerprint we name keys and KEKs by. */
KT_MUST kt_rc kt_spki_sha256(EVP_PKEY *key, uint8_t out[32], kt_err *e);

/* One DER SubjectPublicKeyInfo of 1..KT_SPKI_MAX bytes, all of der, into *out (EVP_PKEY_free). */
KT_MUST kt_rc kt_spki_decode(const uint8_t *der, size_t len, EVP_PKEY **out, kt_err *e);

/* The PKCS#8 PrivateKeyInfo DER of an RSA or EC key into *out (secure memory). Other key types
 * are refused (KT_EFORMAT). */
KT_MUST kt_rc kt_pkcs8_encode(EVP_PKEY *key, kt_secbuf *out, kt_err *e);

/* One DER PKCS#8 PrivateKeyInfo of 1..KT_PKCS8_MAX bytes, all of der, holding an RSA or EC key,
 * into *key (EVP_PKEY_free). */
KT_MUST kt_rc kt_pkcs8_decode(const uint8_t *der, size_t len, EVP_PKEY **key, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Strict JSON (over jansson)                                                                  */
/* ------------------------------------------------------------------------------------------ */

/*
 * Parses exactly one JSON object of at most max bytes: duplicate keys, trailing data, NUL
 * characters, invalid UTF-8 and a non-object top level are refused (KT_EFORMAT; KT_ETOOBIG over
 * max). *out is a new reference the caller json_decref()s.
 */
KT_MUST kt_rc kt_json_parse(const uint8_t *in, size_t len, size_t max, json_t **out, kt_err *e);

/* Refuses (KT_EFORMAT) an object with a member whose name is not in the NULL-terminated list. */
KT_MUST kt_rc kt_json_only_keys(const json_t *obj, const char *const *allowed, const char *what,
                                kt_err *e);

/* Typed member access: a missing member or a member of another type is KT_EFORMAT naming what
 * and key. Returned pointers borrow from obj. */
KT_MUST kt_rc kt_json_get_string(const json_t *obj, const char *key, const char *what,
                                 const char **out, kt_err *e);
KT_MUST kt_rc kt_json_get_int(const json_t *obj, const char *key, const char *what, int64_t min,
                              int64_t max, int64_t *out, kt_err *e);
/* The string member key copied into out: it must have min to outsz - 1 octets (outsz >= 1). */
KT_MUST kt_rc kt_json_copy_string(const json_t *obj, const char *key, const char *what, size_t min,
                                  char *out, size_t outsz, kt_err *e);
KT_MUST kt_rc kt_json_get_bool(const json_t *obj, const char *key, const char *what, bool *out,
                               kt_err *e);
KT_MUST kt_rc kt_json_get_object(const json_t *obj, const char *key, const char *what, json_t **out,
                                 kt_err *e);
KT_MUST kt_rc kt_json_get_array(const json_t *obj, const char *key, const char *what, json_t **out,
                                kt_err *e);

/* Serializes v compactly with sorted keys (deterministic); *out is a heap string to free(). */
KT_MUST kt_rc kt_json_dump(const json_t *v, bool pretty, char **out, kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Binary records: the codec of world, module, card and key files                              */
/* ------------------------------------------------------------------------------------------ */

/*
 * A file is an 8-byte magic, a big-endian u16 version, then fields in a fixed order, each a
 * big-endian u16 tag, a big-endian u32 length and the value. Writers append; readers demand the
 * exact tag expected next and refuse anything else, including trailing bytes.
 */
typedef struct kt_wbuf {
    uint8_t *p;
    size_t len, cap;
    bool secure; /* grows in sodium_malloc memory and is wiped */
    bool failed; /* an allocation failed; reported by kt_wbuf_finish */
} kt_wbuf;

void kt_wbuf_init(kt_wbuf *w, bool secure);
void kt_wbuf_bytes(kt_wbuf *w, const void *p, size_t n);
void kt_wbuf_u16(kt_wbuf *w, uint16_t v);
void kt_wbuf_u32(kt_wbuf *w, uint32_t v);
void kt_wbuf_u64(kt_wbuf *w, uint64_t v);
/* Appends the magic and version that start a file. */
void kt_wbuf_header(kt_wbuf *w, const char magic[8], uint16_t version);
/* Appends one tagged field. */
void kt_wbuf_field(kt_wbuf *w, uint16_t tag, const void *p, size_t n);
/* Appends a field holding a big-endian u64. */
void kt_wbuf_field_u64(kt_wbuf *w, uint16_t tag, uint64_t v);
/* KT_ENOMEM if any append failed. */
KT_MUST kt_rc kt_wbuf_finish(const kt_wbuf *w, kt_err *e);
/* Wipes (always) and frees the buffer. */
void kt_wbuf_free(kt_wbuf *w);

typedef struct kt_rbuf {
    const uint8_t *p;
    size_t len, off;
    const char *what; /* names the file in messages, e.g. "world file" */
} kt_rbuf;

void kt_rbuf_init(kt_rbuf *r, const uint8_t *p, size_t len, const char *what);
/* Checks the magic (KT_EFORMAT) and reads the version into *version. */
KT_MUST kt_rc kt_rbuf_header(kt_rbuf *r, const char magic[8], uint16_t *version, kt_err *e);
/* Reads the next field, which must carry tag and be min..max bytes long; *val borrows. */
KT_MUST kt_rc kt_rbuf_field(kt_rbuf *r, uint16_t tag, size_t min, size_t max, const uint8_t **val,
                            size_t *vlen, kt_err *e);
/* Reads a field of exactly n bytes into out. */
KT_MUST kt_rc kt_rbuf_field_fixed(kt_rbuf *r, uint16_t tag, void *out, size_t n, kt_err *e);
/* Reads a field holding a big-endian u64. */
KT_MUST kt_rc kt_rbuf_field_u64(kt_rbuf *r, uint16_t tag, uint64_t *out, kt_err *e);
/* Reads a field holding printable ASCII of 1..max bytes into out (max+1 bytes, NUL-terminated). */
KT_MUST kt_rc kt_rbuf_field_str(kt_rbuf *r, uint16_t tag, char *out, size_t max, kt_err *e);
/* KT_EFORMAT unless every byte has been consumed. */
KT_MUST kt_rc kt_rbuf_end(const kt_rbuf *r, kt_err *e);

uint16_t kt_be16(const uint8_t *p);
uint32_t kt_be32(const uint8_t *p);
uint64_t kt_be64(const uint8_t *p);

/* ------------------------------------------------------------------------------------------ */
/* PIN entry                                                                                   */
/* ------------------------------------------------------------------------------------------ */

#define KT_PIN_MAX      256 /* longest PIN accepted, in bytes */
#define KT_PIN_MIN_NEW  8   /* shortest PIN accepted for a new card */
#define KT_PIN_FILE_MAX (64 * 1024)

/* Where PINs come from: the terminal (echo off), a file or a file descriptor (one PIN a line). */
typedef struct kt_pin_source {
    int kind;        /* internal */
    kt_secbuf lines; /* the whole file or fd input, secure memory */
    size_t next;     /* offset of the next unread line */
    unsigned served; /* PINs handed out so far */
} kt_pin_source;

/* Sets up a source: exactly one of pin_file and pin_fd (>= 0) may be given; neither means the
 * terminal. Files and descriptors are read whole at once (at most KT_PIN_FILE_MAX bytes). */
KT_MUST kt_rc kt_pin_source_open(kt_pin_source *s, const char *pin_file, int pin_fd, kt_err *e);
void kt_pin_source_close(kt_pin_source *s);

/*
 * Gets the next PIN into *pin (secure memory, caller frees with kt_secbuf_free). prompt is shown
 * on the terminal. When is_new, the PIN must be KT_PIN_MIN_NEW..KT_PIN_MAX bytes and, on a
 * terminal, is asked twice and must match. A file or fd that runs out of lines is KT_EUSAGE.
 */
KT_MUST kt_rc kt_pin_get(kt_pin_source *s, const char *prompt, bool is_new, kt_secbuf *pin,
                         kt_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Progress                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* A progress callback libraries call for long work; done of total steps of the named task. */
typedef void (*kt_progress_fn)(void *ctx, const char *task, size_t done, size_t total);

/* The CLI's callback: a one-line indicator on stderr, only when stderr is a terminal. ctx is
 * unused (pass NULL). A call with done == total ends the line. */
void kt_progress_stderr(void *ctx, const char *task, size_t done, size_t total);

/* ------------------------------------------------------------------------------------------ */
/* Process                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Start-up hardening every program calls first: sodium_init, umask(077), no core dumps
 * (RLIMIT_CORE 0 and PR_SET_DUMPABLE 0). */
KT_MUST kt_rc kt_process_harden(kt_err *e);

/* What a program that holds only sodium_malloc secrets locks at most at once (a margin over the
 * few pages its live secret buffers take). */
#define KT_MEMLOCK_PROBE (64 * 1024)

/*
 * The start-up check that secrets stay out of swap. sodium_malloc and OpenSSL's secure heap lock
 * their pages with mlock, and both go on silently when that fails (RLIMIT_MEMLOCK, `ulimit -l`,
 * too low; no CAP_IPC_LOCK). This locks and unlocks `bytes` of fresh memory (all the program
 * will lock at once) to learn it first. KT_OK and warn->rc KT_OK when they can be locked. When
 * they cannot, warn receives a message for the user naming RLIMIT_MEMLOCK, the current limits
 * and how to raise them; the return is KT_OK (warn->rc KT_ENOMEM: the program warns and goes on)
 * or, when the environment has KEYTRANSFER_REQUIRE_MLOCK=1, KT_ENOMEM (the program refuses to
 * run, with that message). prog names the program. Nothing stays locked; nothing is printed.
 */
KT_MUST kt_rc kt_memlock_check(size_t bytes, const char *prog, kt_err *warn);

/*
 * As kt_memlock_check, for a lock that failed elsewhere: bytes that could not be locked, err the
 * errno (0 when unknown, as for OpenSSL's secure heap, which only says that it is not locked).
 */
KT_MUST kt_rc kt_memlock_failed(size_t bytes, int err, const char *prog, kt_err *warn);

/*
 * Flushes and closes standard output: the last thing a program does before it exits, because a
 * buffered stream only learns at its flush that the data did not get out (a full disk, /dev/full,
 * a closed pipe with SIGPIPE ignored). KT_EIO naming the errno text when it failed, earlier or now.
 */
KT_MUST kt_rc kt_stdout_close(kt_err *e);

#endif
