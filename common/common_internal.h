/*
 * common_internal.h - what the careful writer (file.c) shares with the commit protocol (txn.c) and
 * nobody else.
 */
#ifndef KT_FILE_INTERNAL_H
#define KT_FILE_INTERNAL_H

#include "kt.h"

/* Writes all len bytes to fd, retrying short writes and EINTR; path names the file in messages. */
KT_MUST kt_rc kt_write_all(int fd, const uint8_t *p, size_t len, const char *path, kt_err *e);

#endif
