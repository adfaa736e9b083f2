/*
 * main.c - `keytransfer-online`: the online workstation's tool. It never holds a key: it checks
 * what is downloaded, checks what the USB stick brings from the offline workstation, and uploads
 * a checked package to a Key Vault REST endpoint (docs/design.md, "Workflow", steps 1 and 9).
 */
#include "commands.h"

#include <stdio.h>

static const cli_entry commands[] = {
    {"hash", cmd_hash, "SHA-256 of a download, checked against a hash or the published table"},
    {"check", cmd_check, "check the transfer manifests and packages on a USB stick"},
    {"upload", cmd_upload, "upload a checked .byok to Key Vault and check the key it holds"},
};

/* The environment that would log or divert TLS secrets goes before OpenSSL or libcurl runs. */
static kt_rc scrub_environment(kt_err *e)
{
    const char *names[ONLINE_ENV_IGNORED_MAX];
    size_t n = online_env_scrub(names, ONLINE_ENV_IGNORED_MAX);
    (void)e;
    if (n == 0)
        return KT_OK;
    fprintf(stderr, "%s: warning: ignoring ", cli_name());
    for (size_t i = 0; i < n && i < ONLINE_ENV_IGNORED_MAX; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", names[i]);
    if (n > ONLINE_ENV_IGNORED_MAX)
        fprintf(stderr, " and %zu more", n - ONLINE_ENV_IGNORED_MAX);
    fprintf(stderr,
            " from the environment: %s would log TLS secrets or take trust or code from "
            "elsewhere (keytransfer-online(1), ENVIRONMENT)\n",
            n == 1 ? "it" : "they");
    return KT_OK;
}

int main(int argc, char **argv)
{
    static const cli_program program = {
        .name = "keytransfer-online",
        .about = "The online workstation's side of a key transfer. It holds no key: it checks\n"
                 "downloads, checks what the USB stick brings, and uploads checked packages.",
        .cmds = commands,
        .ncmds = sizeof commands / sizeof commands[0],
        .memlock_bytes = KT_MEMLOCK_PROBE,
        .early = scrub_environment,
    };
    return cli_main(&program, argc, argv);
}
