/* tls.c -- the TLS options shared by listen, connect and bench. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

void cli_tls_init(cli_tls *t) {
  memset(t, 0, sizeof(*t));
  t->handshake_timeout_ms = 10000;
}

int cli_tls_option(cli_tls *t, const char *cmd, int opt, const char *arg) {
  switch (opt) {
  case OPT_CERT:
    t->o.cert_file = arg;
    break;
  case OPT_KEY:
    t->o.key_file = arg;
    break;
  case OPT_CA:
    t->o.ca_file = arg;
    break;
  case OPT_CLIENT_CA:
    t->o.client_ca_file = arg;
    break;
  case OPT_PIN:
    t->o.pin = arg;
    break;
  case OPT_INSECURE:
    t->o.insecure = 1;
    break;
  case OPT_ALPN:
    if (arg[0] == '\0' || strstr(arg, ",,") != NULL || arg[0] == ',' ||
        arg[strlen(arg) - 1] == ',')
      return cli_usage_error(cmd,
                             "--alpn: '%s' is not a comma-separated "
                             "list of protocol names",
                             arg);
    t->o.alpn = arg;
    break;
  case OPT_HANDSHAKE_TIMEOUT:
    if (cli_parse_seconds(cmd, "--handshake-timeout", arg,
                          &t->handshake_timeout_ms))
      return EXIT_USAGE;
    if (t->handshake_timeout_ms == 0)
      return cli_usage_error(cmd, "--handshake-timeout: must be more than 0 "
                                  "(a handshake that never ends holds a "
                                  "connection forever)");
    break;
  default:
    return 0;
  }
  t->given = true;
  return 1;
}

int cli_tls_make(cli_tls *t, const char *cmd, bool server, bool any_tls,
                 sk_tls **out) {
  char err[512];

  *out = NULL;
  if (!any_tls) {
    if (t->given)
      return cli_usage_error(cmd, "TLS options need a TLS address "
                                  "(tls://HOST:PORT or tls+unix:PATH)");
    return 0;
  }
  if ((t->o.cert_file == NULL) != (t->o.key_file == NULL))
    return cli_usage_error(cmd, "%s needs %s too",
                           t->o.cert_file != NULL ? "--cert" : "--key",
                           t->o.cert_file != NULL ? "--key" : "--cert");
  if (!server && t->o.insecure && (t->o.pin != NULL || t->o.ca_file != NULL))
    return cli_usage_error(cmd,
                           "--insecure turns verification off: it "
                           "cannot go with --%s",
                           t->o.pin != NULL ? "pin" : "ca");
  if (sk_tls_new(&t->o, server, out, err, sizeof(err)) != 0) {
    cli_error("%s: %s", cmd, err);
    return 1;
  }
  if (!server && t->o.insecure)
    cli_error("warning: --insecure: the server's certificate is not "
              "verified; anyone on the path can read and change this "
              "connection");
  return 0;
}
