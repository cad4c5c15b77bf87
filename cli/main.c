/*
 * enjoliverctl: global flags up to the command word, then the command (which
 * parses the rest, global flags included).
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* "help" and "help COMMAND": to stdout, exit 0. */
static int run_help(int argc, char **argv)
{
    const struct ctl_cmd *cmd;

    if (argc < 2) {
        help_top(stdout);
        return EXIT_OK;
    }
    if ((cmd = cmd_find(argv[1])) == NULL)
        return ctl_usage_error(NULL, "help: unknown command '%s'", argv[1]);
    cmd->help(stdout);
    return EXIT_OK;
}

/* The global flags before the command word; 0 with *cmd_index, -1 when
 * the help was printed, or EXIT_USAGE. */
static int parse_globals(struct ctl *ctl, int argc, char **argv, int *cmd_index)
{
    int opt, rc;

    opterr = 0;
    /* '+': stop at the command word; its flags are the command's to parse. */
    while ((opt = getopt_long(argc, argv, "+:" CTL_GLOBAL_SHORT, CTL_GLOBAL_OPTIONS, NULL)) != -1) {
        if (opt == 'h') {
            help_top(stdout);
            return -1;
        }
        if (opt == ':')
            return ctl_usage_error(NULL, "%s needs a value", argv[optind - 1]);
        if (opt == '?')
            return ctl_usage_error(NULL, "unknown flag '%s'", argv[optind - 1]);
        if ((rc = ctl_global_flag(ctl, NULL, opt, optarg)) != 0)
            return rc;
    }
    *cmd_index = optind;
    return 0;
}

int main(int argc, char **argv)
{
    struct ctl ctl;
    const struct ctl_cmd *cmd;
    int first = 0, rc;

    ctl_init(&ctl);
    rc = parse_globals(&ctl, argc, argv, &first);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (first >= argc)
        return ctl_usage_error(NULL, "no command given");
    if (strcmp(argv[first], "help") == 0)
        return run_help(argc - first, argv + first);
    if ((cmd = cmd_find(argv[first])) == NULL)
        return ctl_usage_error(NULL, "unknown command '%s'", argv[first]);
    rc = cmd->run(&ctl, argc - first, argv + first);
    ctl_close(&ctl);
    return rc;
}
