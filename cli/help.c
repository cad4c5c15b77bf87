/*
 * The top-level help and the global flags' text that every command's help
 * repeats (a reader of "enjoliverctl get --help" should not need another
 * page to learn -o).
 */
#include "ctl.h"

#include <string.h>

static const struct ctl_cmd *const COMMANDS[] = {
    &CMD_GET, &CMD_WATCH, &CMD_SCHEDULE, &CMD_ROLLING, &CMD_BACKUP, &CMD_HEALTH, &CMD_VERSION,
};

void help_global_flags(FILE *out)
{
    fputs("Global flags (before or after the command):\n"
          "  --server ADDR      enjoliverd's gRPC address: HOST:PORT or a gRPC target\n"
          "                     (default: $ENJOLIVER_SERVER, else " DEFAULT_SERVER ")\n"
          "  --token-file FILE  file whose first line is the admin token, sent as\n"
          "                     \"authorization: Bearer <token>\" with every call\n"
          "                     (default: $ENJOLIVER_TOKEN_FILE, else no token)\n"
          "  --tls-ca FILE      PEM root certificates: connect over TLS verified with\n"
          "                     them (default: plaintext)\n"
          "  -o, --output FMT   table (default), json or yaml\n"
          "  --timeout SECONDS  deadline of each call, fractions allowed (default: 10);\n"
          "                     watches have none\n"
          "  -h, --help         print the help and exit\n",
          out);
}

void help_top(FILE *out)
{
    fputs("Usage: enjoliverctl [GLOBAL FLAGS] COMMAND [ARGUMENTS] [FLAGS]\n"
          "\n"
          "The operators' client of enjoliverd's gRPC API.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-10s  %s\n", COMMANDS[i]->name, COMMANDS[i]->summary);
    fprintf(out, "  %-10s  %s\n\n", "help", "this help, or a command's: help COMMAND");
    help_global_flags(out);
    fputs("\n"
          "Exit codes: 0 success; 1 failure (an RPC error, the server unreachable, a\n"
          "file); 2 usage error (unknown command or flag, missing or bad argument).\n"
          "\n"
          "Run 'enjoliverctl COMMAND --help' for a command's arguments and flags.\n",
          out);
}

const struct ctl_cmd *cmd_find(const char *name)
{
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(COMMANDS[i]->name, name) == 0)
            return COMMANDS[i];
    return NULL;
}
