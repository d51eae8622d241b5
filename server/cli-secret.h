/* server/cli-secret.h: sealing a secret an admin command was given (a webhook's
 * signing secret, a proxy project's upstream password) under the secret key
 * (common/secretbox.h), with the command-line messages that go with it. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The key is DATA/secret.key (made when missing, with the data directory if need
 * be) or the file BERTH_SECRET_KEY_FILE names (the operator's to make). context:
 * the secret's use (a secretbox context). Problems are explained on err. *ret is
 * malloc'd. 0 or <0. */
int cli_secret_seal(const char *data_dir, FILE *err, const char *context, const char *secret, uint8_t **ret,
                    size_t *ret_len);
