/*
 * root.c - packages/root.c compiled with the hash of this folder's test vendor root in place of
 * the build's (CMakeLists.txt here), for the test-only twins keytransfer-realroot and
 * keytransfer-online-realroot: programs as a build with a real vendor root hash makes them.
 */
#include "../../../packages/root.c"
